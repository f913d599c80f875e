-- 10: indexes for the people's pages. A supervisor's client search by phone reads one
-- index entry instead of scanning the queue; an agent's "calls awaiting a disposition"
-- reads that agent's few open answered calls in order.
CREATE INDEX clients_phone ON clients(phone);
CREATE INDEX calls_awaiting_disposition ON calls(agent, started_at)
    WHERE status = 'answered' AND disposition IS NULL;
