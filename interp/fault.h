/* fault.h — injected I/O faults, for the tests only (like SQLite's
 * SimulateIOError): compiled in with -DRUNBOOK_FAULTS (build/fault/runbook,
 * which `make test` builds for tests/e2e/t0960-faults.sh); in the real
 * binary fault_hit() is the constant 0 and every hook disappears.
 *
 * RUNBOOK_FAULT="POINT:N[+][:ERRNO][,POINT:N...]" — the Nth call at POINT
 * fails (and every later one with '+'), with errno ERRNO (a number or a
 * name such as ENOSPC; default EIO).  ERRNO "SHORT" (at a write point)
 * is no failure but a short write: the call writes half of what it was
 * given, which the writer must notice and go on from.  A call is one
 * write(2): the pieces of a write made short, and a retry after EINTR,
 * are counted too.  Points:
 *   journal-write  a journal record: half of it is written, then the
 *                  write fails (a torn record, as on a full disk)
 *   journal-sync   the journal's fdatasync
 *   log-write      a write to a step's log file
 *   file-write     a write to any other file: the run folder's state
 *                  files, transfers, downloads, archives, the mirror of
 *                  a remote run
 *   rename         the rename that puts a file written aside in place
 *                  (params.json, transfers)
 *   spawn          starting a local command (posix_spawn: a failed fork)
 * A write at a failing point writes half of its bytes first, as a disk
 * that fills up does (util.h: write_full). */
#ifndef RB_FAULT_H
#define RB_FAULT_H

enum fault_point { FP_JOURNAL_WRITE, FP_JOURNAL_SYNC, FP_LOG_WRITE, FP_FILE_WRITE, FP_RENAME, FP_SPAWN };

/* fault_hit()'s answer for a short write ("SHORT") */
#define FAULT_SHORT (-1)

#ifdef RUNBOOK_FAULTS
/* 0, the errno the call at p must fail with, or FAULT_SHORT. */
int fault_hit(enum fault_point p);
#else
#define fault_hit(p) 0
#endif

#endif
