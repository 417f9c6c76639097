"""One analyser for the unit tests: building one loads jieba's dictionary."""

from __future__ import annotations

import pytest

from services.knowledge.domain.analysis import Analyzer
from services.knowledge.domain.search import analyzer_for


@pytest.fixture(scope="session")
def analyzer() -> Analyzer:
    return analyzer_for(("微信支付", "闪电贷"))
