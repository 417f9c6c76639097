-- Articles: one row per article (its workflow state), one row per version (every edit is a new version).
CREATE TABLE article (
    article_id         uuid        PRIMARY KEY,
    status             text        NOT NULL CHECK (status IN ('draft', 'review', 'published', 'archived')),
    current_version    integer     NOT NULL,
    published_version  integer,
    owner              text        NOT NULL,
    created_by         text        NOT NULL,
    external_id        text        UNIQUE,
    review_by          timestamptz,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    published_at       timestamptz,
    archived_at        timestamptz
);
CREATE INDEX article_review_by_idx ON article (review_by) WHERE published_version IS NOT NULL;
CREATE INDEX article_status_idx ON article (status, updated_at);

CREATE TABLE article_version (
    article_id   uuid        NOT NULL REFERENCES article (article_id),
    version      integer     NOT NULL,
    title        text        NOT NULL,
    summary      text        NOT NULL DEFAULT '',
    body         text        NOT NULL,
    category     text        NOT NULL DEFAULT '',
    tags         text[]      NOT NULL DEFAULT '{}',
    language     text        NOT NULL CHECK (language IN ('zh-Hans', 'zh-Hant', 'en')),
    channels     text[]      NOT NULL DEFAULT '{}',
    products     text[]      NOT NULL DEFAULT '{}',
    visibility   text        NOT NULL CHECK (visibility IN ('internal', 'public')),
    edited_by    text        NOT NULL,
    edited_at    timestamptz NOT NULL,
    note         text        NOT NULL DEFAULT '',
    PRIMARY KEY (article_id, version)
);

-- The search index's durable half: the analysed terms of each live (published) version, so a start-up loads
-- the in-memory index without re-running the analysers. `revision` orders changes for every instance.
CREATE SEQUENCE search_revision;
CREATE TABLE search_document (
    article_id    uuid        PRIMARY KEY REFERENCES article (article_id),
    version       integer     NOT NULL,
    live          boolean     NOT NULL,
    revision      bigint      NOT NULL DEFAULT nextval('search_revision'),
    analyzer      text        NOT NULL,
    title_terms   text        NOT NULL,
    tags_terms    text        NOT NULL,
    summary_terms text        NOT NULL,
    body_terms    text        NOT NULL,
    indexed_at    timestamptz NOT NULL
);
CREATE INDEX search_document_revision_idx ON search_document (revision);

-- Admin lists: synonym groups (applied to queries) and product terms (jieba's custom dictionary).
CREATE TABLE synonym (
    synonym_id  uuid        PRIMARY KEY,
    terms       text[]      NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE TABLE product_term (
    term        text        PRIMARY KEY,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL
);

-- Every search (agents' lookups and suggestions), and what the searcher did with it.
CREATE TABLE search_log (
    search_id     uuid        PRIMARY KEY,
    source        text        NOT NULL CHECK (source IN ('lookup', 'suggestion')),
    actor         text        NOT NULL,
    query         text        NOT NULL,
    query_key     text        NOT NULL,
    language      text,
    filters       jsonb       NOT NULL DEFAULT '{}',
    result_count  integer     NOT NULL,
    result_ids    uuid[]      NOT NULL,
    searched_at   timestamptz NOT NULL
);
CREATE INDEX search_log_searched_at_idx ON search_log (searched_at);
CREATE TABLE search_feedback (
    search_feedback_id  bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    search_id           uuid        NOT NULL,
    article_id          uuid,
    kind                text        NOT NULL CHECK (kind IN ('click', 'vote')),
    helpful             boolean,
    actor               text        NOT NULL,
    at                  timestamptz NOT NULL
);
CREATE INDEX search_feedback_search_idx ON search_feedback (search_id);

-- What knowledge remembers of a contact, so a follow-up message is matched in the contact's language and
-- category and an unchanged suggestion is not sent twice.
CREATE TABLE contact_context (
    contact_id      uuid        PRIMARY KEY,
    channel         text        NOT NULL,
    language        text,
    category        text        NOT NULL,
    suggested_ids   uuid[]      NOT NULL DEFAULT '{}',
    updated_at      timestamptz NOT NULL
);

-- RULES.md figures and ranking knobs: configuration rows, editable through the admin API.
CREATE TABLE knowledge_setting (
    name        text        PRIMARY KEY,
    value       jsonb       NOT NULL,
    description text        NOT NULL,
    updated_by  text        NOT NULL,
    updated_at  timestamptz NOT NULL
);
INSERT INTO knowledge_setting (name, value, description, updated_by, updated_at) VALUES
    ('review_days', '180', 'Days from publication until an article is due for review (RULES.md: 180).',
     'migration', now()),
    ('suggestion_count', '3', 'Articles suggested to the agent per contact message.', 'migration', now()),
    ('suggestion_min_score', '1.0', 'Lowest score an article needs to be suggested.', 'migration', now()),
    ('boost_title', '5.0', 'Weight of a title match (BM25F field boost).', 'migration', now()),
    ('boost_tags', '2.0', 'Weight of a tag match.', 'migration', now()),
    ('boost_summary', '1.5', 'Weight of a summary match.', 'migration', now()),
    ('boost_body', '1.0', 'Weight of a body match.', 'migration', now()),
    ('synonym_weight', '0.6', 'Weight of a term added by a synonym relative to the query''s own terms.',
     'migration', now());

-- Who changed what, when: every admin change and workflow step.
CREATE TABLE audit_log (
    audit_id    bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    actor       text        NOT NULL,
    action      text        NOT NULL,
    target      text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}',
    at          timestamptz NOT NULL
);
CREATE INDEX audit_log_at_idx ON audit_log (at);
