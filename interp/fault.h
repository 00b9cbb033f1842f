/* fault.h — injected I/O faults, for the tests only (like SQLite's
 * SimulateIOError): compiled in with -DRUNBOOK_FAULTS (build/fault/runbook,
 * which `make test` builds for tests/e2e/t0960-faults.sh); in the real
 * binary fault_hit() is the constant 0 and every hook disappears.
 *
 * RUNBOOK_FAULT="POINT:N[+][:ERRNO]" — the Nth call at POINT fails (and
 * every later one with '+'), with errno ERRNO (a number or a name such as
 * ENOSPC; default EIO).  Points:
 *   journal-write  a journal record: half of it is written, then the
 *                  write fails (a torn record, as on a full disk)
 *   journal-sync   the journal's fdatasync
 *   log-write      a write to a step's log file
 *   rename         the rename that puts a file written aside in place
 *                  (params.json, transfers)
 *   spawn          starting a local command (posix_spawn: a failed fork) */
#ifndef RB_FAULT_H
#define RB_FAULT_H

enum fault_point { FP_JOURNAL_WRITE, FP_JOURNAL_SYNC, FP_LOG_WRITE, FP_RENAME, FP_SPAWN };

#ifdef RUNBOOK_FAULTS
/* 0, or the errno the call at p must fail with. */
int fault_hit(enum fault_point p);
#else
#define fault_hit(p) 0
#endif

#endif
