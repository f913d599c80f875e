-- 7: each worker's latest readiness finding per provider (`dialer status` reads them)

CREATE TABLE provider_readiness (
    owner TEXT NOT NULL,
    provider TEXT NOT NULL,
    ready INTEGER NOT NULL,
    reason TEXT,
    since TEXT NOT NULL,
    checked_at TEXT NOT NULL,
    PRIMARY KEY (owner, provider)
);
