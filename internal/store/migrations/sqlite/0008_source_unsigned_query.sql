-- A source whose scheme signs only the body refuses query-string data unless it
-- opts in: the query string is not covered by the signature.
ALTER TABLE sources ADD COLUMN allow_unsigned_query integer NOT NULL DEFAULT 0;
