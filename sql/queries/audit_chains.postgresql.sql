-- The audit trail's global order without a global lock (revision 0008): seq comes from a
-- sequence, so writers on different chains never wait for one another. It starts after
-- the rows already there. Statements end with ";" at the end of a line.
CREATE SEQUENCE IF NOT EXISTS audit.decisions_seq AS BIGINT MINVALUE 1;

SELECT setval('audit.decisions_seq', (SELECT MAX(seq) FROM audit.decisions))
    WHERE EXISTS (SELECT 1 FROM audit.decisions);
