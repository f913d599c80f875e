-- 7: each worker's latest readiness finding per provider (`dialer status` reads them)

CREATE TABLE provider_readiness (
    owner text NOT NULL,
    provider text NOT NULL,
    ready boolean NOT NULL,
    reason text,
    since timestamptz NOT NULL,
    checked_at timestamptz NOT NULL,
    PRIMARY KEY (owner, provider)
);
