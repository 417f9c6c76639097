"""Tokens of an identity provider: RS256 and ES256 checked by its JWKS (issuer, audience, expiry), role and subject
from configurable claims, and none of the algorithm confusions that would let a forged token through. The
provider's keys are a local key pair served through httpx's mock transport (the provider is not ours)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from shared.auth import AuthError, ClaimRules, Principal, TokenVerifier, issue_token, principal_from_claims

ISSUER = "https://idp.example.test/realms/cc"
AUDIENCE = "switchboard-api"
SECRET = "s" * 48


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


RSA = rsa_key()
EC = ec.generate_private_key(ec.SECP256R1())


def public_jwk(key: Any, kid: str, alg: str) -> dict[str, Any]:
    algorithm = jwt.algorithms.RSAAlgorithm if alg.startswith("RS") else jwt.algorithms.ECAlgorithm
    jwk: dict[str, Any] = json.loads(algorithm.to_jwk(key.public_key()))
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


def provider(keys: list[dict[str, Any]], calls: list[str]) -> Callable[[], httpx.AsyncClient]:
    def handle(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.path)
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"issuer": ISSUER, "jwks_uri": ISSUER + "/certs"})
        return httpx.Response(200, json={"keys": keys})

    client = httpx.AsyncClient(transport=httpx.MockTransport(handle))
    return lambda: client


def verifier(
    keys: list[dict[str, Any]] | None = None, calls: list[str] | None = None, **rules: Any
) -> TokenVerifier:
    made = TokenVerifier(
        secret=SECRET, oidc_issuer=ISSUER, oidc_audience=AUDIENCE, rules=ClaimRules(**rules), leeway_s=0
    )
    assert made.jwks is not None
    made.jwks._http = provider(
        keys if keys is not None else [public_jwk(RSA, "r1", "RS256"), public_jwk(EC, "e1", "ES256")],
        calls if calls is not None else [],
    )
    return made


def token(key: Any, alg: str, kid: str | None, **claims: Any) -> str:
    now = datetime.now(UTC)
    body = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1", "role": "agent", "iat": now,
            "exp": now + timedelta(minutes=5), **claims}  # fmt: skip
    return jwt.encode(body, key, algorithm=alg, headers={"kid": kid} if kid else None)


async def test_rs256_and_es256_tokens_of_the_provider_are_accepted_by_its_keys() -> None:
    check = verifier()
    assert await check.verify(token(RSA, "RS256", "r1", sub="A-7")) == Principal(role="agent", subject="A-7")
    assert await check.verify(token(EC, "ES256", "e1", role="supervisor", sub="S-1")) == Principal(
        role="supervisor", subject="S-1"
    )


async def test_our_own_hs256_tokens_still_work_beside_the_provider() -> None:
    ours = issue_token(SECRET, role="admin", subject="root", ttl=timedelta(minutes=5), now=datetime.now(UTC))
    assert await verifier().verify(ours) == Principal(role="admin", subject="root")


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"iss": "https://evil.example.test"}, "invalid token"),
        ({"aud": "another-api"}, "invalid token"),
        ({"exp": datetime.now(UTC) - timedelta(seconds=5)}, "expired"),
        ({"role": "customer"}, "no Switchboard role"),
        ({"sub": ""}, "no 'sub' claim"),
    ],
)
async def test_a_token_for_another_issuer_or_audience_an_expired_one_or_one_without_a_role_is_refused(
    claims: dict[str, Any], reason: str
) -> None:
    with pytest.raises(AuthError, match=reason):
        await verifier().verify(token(RSA, "RS256", "r1", **claims))


async def test_a_token_signed_by_another_key_under_a_published_key_id_is_refused() -> None:
    with pytest.raises(AuthError, match="invalid token"):
        await verifier().verify(token(rsa_key(), "RS256", "r1"))


async def test_the_public_key_used_as_an_hmac_secret_forges_nothing() -> None:
    """The classic confusion: HS256 signed with the provider's public key. HS256 is only ever our own secret."""
    pem = RSA.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "role": "admin", "exp": 4_000_000_000}
    signing_input = b".".join(
        base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=")
        for part in ({"alg": "HS256", "typ": "JWT", "kid": "r1"}, claims)
    )
    signature = base64.urlsafe_b64encode(hmac.new(pem, signing_input, hashlib.sha256).digest()).rstrip(b"=")
    forged = (signing_input + b"." + signature).decode()
    with pytest.raises(AuthError):
        await verifier().verify(forged)


async def test_unsigned_tokens_and_an_rsa_key_offered_for_es256_are_refused() -> None:
    unsigned = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "role": "admin"}, "", algorithm="none")
    with pytest.raises(AuthError, match="not accepted"):
        await verifier().verify(unsigned)
    with pytest.raises(AuthError, match="not a ES256 key"):
        await verifier().verify(token(EC, "ES256", "r1"))


async def test_an_unknown_key_id_reads_the_keys_again_but_not_on_every_token() -> None:
    calls: list[str] = []
    keys = [public_jwk(RSA, "r1", "RS256")]
    check = verifier(keys, calls)
    clock = [1000.0]
    assert check.jwks is not None
    check.jwks._monotonic = lambda: clock[0]
    await check.verify(token(RSA, "RS256", "r1"))
    rotated = EC
    keys.append(public_jwk(rotated, "e2", "ES256"))  # the provider publishes a new key
    clock[0] += 11
    assert (await check.verify(token(rotated, "ES256", "e2"))).role == "agent"
    reads = len(calls)
    for _ in range(5):
        with pytest.raises(AuthError, match="does not publish"):
            await check.verify(token(rotated, "ES256", "made-up"))
    assert len(calls) == reads  # read moments ago: made-up key ids do not reach the provider


def test_role_and_subject_come_from_configured_claims_and_the_strongest_role_counts() -> None:
    rules = ClaimRules(
        role_claim="realm_access.roles", role_map=(("cc-agent", "agent"), ("cc-lead", "supervisor")),
        subject_claim="agent_id",
    )  # fmt: skip
    claims = {"realm_access": {"roles": ["offline_access", "cc-agent", "cc-lead"]}, "agent_id": "A-42", "sub": "x"}
    assert principal_from_claims(claims, rules) == Principal(role="supervisor", subject="A-42")
    with pytest.raises(AuthError, match="agent_id"):
        principal_from_claims({"realm_access": {"roles": ["cc-agent"]}, "sub": "x"}, rules)
    with pytest.raises(AuthError, match="no Switchboard role"):
        principal_from_claims(
            {"realm_access": {"roles": ["adapter"]}, "sub": "A"}, ClaimRules(role_claim="realm_access.roles")
        )  # adapters use API keys, never a person's sign-in


def test_an_issuer_without_an_audience_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="audience"):
        TokenVerifier(secret=SECRET, oidc_issuer=ISSUER)
