-- The naive pipeline's intake transaction (naive.py, accept()), one new-ish phone each time:
-- the rate PostgreSQL alone reaches for it is the yardstick of goal 2.
-- pgbench -n -M prepared -c 8 -j 2 -T 10 -f bench/pgbench/intake.sql <naive-schema database>
\set phone random(16502000000, 16509999999)
BEGIN;
INSERT INTO contacts (company_id, phone) VALUES (1, '+' || :phone::text)
    ON CONFLICT (company_id, phone) DO UPDATE SET updated_at = now() RETURNING id AS contact_id
\gset
INSERT INTO conversations (company_id, contact_id) VALUES (1, :contact_id)
    ON CONFLICT (company_id, contact_id) DO UPDATE SET updated_at = now()
    RETURNING id AS conversation_id
\gset
INSERT INTO messages (company_id, conversation_id, to_phone, content)
    VALUES (1, :conversation_id, '+' || :phone::text, 'bench message') RETURNING id AS message_id
\gset
UPDATE conversations SET last_message_id = :message_id, last_message_at = now(),
    last_message_status = 'sending', last_message_preview = left('bench message', 40),
    updated_at = now() WHERE id = :conversation_id;
END;
