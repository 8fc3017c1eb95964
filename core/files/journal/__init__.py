"""An append-only journal of the copies and moves Fledge makes, with recovery and undo.

Sorting photos into class folders and applying review labels both copy or move a
user's files. Every such operation goes through a FileJournal:

* an "intent" record -- source, destination, the source's identity (device, inode,
  size, time) -- is appended and fsynced *before* the file is touched. An intent that
  could not be made durable (its write or fsync failed) is never acted on:
  NotRecorded is raised and nothing is done for it;
* a copying move first records the source's hash (a "digest" record, also fsynced); the
  copy must match it before the source is deleted;
* a "done" record (size, SHA-256) follows once the file is in place. If that record
  cannot be written the operation still counts as done (the file *was* moved);
  recovery writes the record later;
* the destination name of an operation that may still be unfinished is reserved: no
  other operation gets it, so recovery can never take one photo for another
  (core.files.file_transfer.settle);
* recover() finishes or rolls back what a crash left half-done, judging from the disk;
* undo_op() puts a file back where it was, never over another file (a free name is
  chosen and reported instead), and removes a copy only when an identical original
  still exists; when the original cannot be read just now, the operation stays in
  effect so a later undo finishes it (Postponed);
* compact() rewrites the journal as the records of the operations still in effect, so
  it does not grow with every sort and undo.

The journal is JSON lines (ASCII: any file name, even one that is not UTF-8, is written
as escapes and read back exactly); a torn line (crash while appending) is ignored.

The class is file_journal.FileJournal; its records and the Op each describes are records.py.
"""
from core.files.file_transfer import is_inside, path_key
from core.files.journal.file_journal import FileJournal, JournalWriteError, NotRecorded, Postponed
from core.files.journal.records import (DONE, FINISHED, KEPT, MISSING, PENDING, ROLLED_BACK, UNDO_PENDING, UNDONE,
                                        Op, UndoOutcome)

__all__ = ["FileJournal", "Op", "UndoOutcome", "JournalWriteError", "NotRecorded", "Postponed", "path_key",
           "is_inside", "DONE", "FINISHED", "KEPT", "MISSING", "PENDING", "ROLLED_BACK", "UNDO_PENDING", "UNDONE"]
