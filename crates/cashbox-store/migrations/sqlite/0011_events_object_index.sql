-- Nothing looks events up by their object: the index cost every event's write (a second
-- random-order index per event, a tenth of the pages a renewal writes) and served no query.
DROP INDEX IF EXISTS events_object;
