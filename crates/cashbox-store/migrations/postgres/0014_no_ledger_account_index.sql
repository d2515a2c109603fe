-- No query reads ledger entries by account: balances are summed over the whole table
-- (`ledger_balances`), which a scan does as well without it. The index cost four entries
-- per renewal, in a few keys shared by every entry (one per account and currency).
DROP INDEX IF EXISTS ledger_entries_account;
