-- Overdue articles are announced (knowledge.article_overdue) once per review-by date: a row here says that date
-- was announced, so a restart or a second instance never announces it again, and a new review-by date (the
-- article marked reviewed) is announced when it passes in its turn.
CREATE TABLE article_overdue_notice (
    article_id    uuid        NOT NULL REFERENCES article (article_id),
    review_by     timestamptz NOT NULL,
    version       integer     NOT NULL,
    announced_at  timestamptz NOT NULL,
    PRIMARY KEY (article_id, review_by)
);
