//! The store's one writing connection, on a thread of its own, with group commit.
//!
//! A write is handed to the thread and awaited. What arrives while the thread commits waits
//! for the next commit and shares it: deliveries that come at once are made durable by one
//! fsync between them, where each used to wait for its own. Each write of a group runs in a
//! savepoint of the group's transaction, in the order they arrived, so each sees the ones
//! before it exactly as if they had run one after another; one whose condition fails (or
//! that errs, or panics) is rolled back to its savepoint and leaves nothing behind, and the
//! others are kept. No write is answered before the commit that holds it has returned, so
//! an acknowledged write is on disk as before.

use super::{Durability, Txn, run, unavailable};
use crate::store::StoreError;
use rusqlite::Connection;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread::JoinHandle;

/// At most this many writes share a commit: the first of a group is answered only after the
/// work of all of them, so a group is kept short.
const GROUP_LIMIT: usize = 64;

/// The handle of the writing thread; dropping the last one ends the thread, after the writes
/// it was handed.
pub(super) struct Writer {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

/// One write, and the durability its commit needs.
struct Job {
    durability: Durability,
    run: Run,
}

/// A write as the thread runs it, in the group's transaction.
type Run = Box<dyn FnOnce(&Txn<'_>) -> Ran + Send>;

/// What a write that ran left: whether it is to be kept, and how to answer it once the
/// group's commit is known.
struct Ran {
    kept: bool,
    answer: Answer,
}

/// Answers a write with the outcome of the commit that held it.
type Answer = Box<dyn FnOnce(Result<(), StoreError>) + Send>;

impl Writer {
    /// Starts the thread that owns `connection` (which is in `synchronous = FULL`).
    pub(super) fn start(connection: Connection) -> Result<Self, StoreError> {
        let (jobs, queue) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("store-writer".into())
            .spawn(move || write_groups(&connection, &queue))
            .map_err(unavailable)?;
        Ok(Self { jobs: Some(jobs), thread: Some(thread) })
    }

    /// Runs `work` in a write transaction and answers once it is committed (with `Immediate`
    /// durability, once it is on disk).
    pub(super) async fn write<T: Send + 'static>(
        &self,
        durability: Durability,
        work: impl FnOnce(&Txn<'_>) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let run: Run = Box::new(move |txn| {
            let outcome = work(txn);
            let kept = outcome.is_ok();
            let answer: Answer = Box::new(move |committed| {
                // Its own error first: a write rolled back to its savepoint failed whatever
                // became of the others.
                let _ = answer.send(outcome.and_then(|out| committed.map(|()| out)));
            });
            Ran { kept, answer }
        });
        let stopped = || unavailable("the store's writer stopped");
        self.jobs.as_ref().ok_or_else(stopped)?.send(Job { durability, run }).map_err(|_| stopped())?;
        // A write that panicked drops its answer unsent.
        answered.await.map_err(|_| unavailable("the store's write did not finish"))?
    }
}

impl Drop for Writer {
    /// Waits for the thread to finish the writes it was handed and close the database, so
    /// that the store is closed when the last handle goes, as a connection closes when
    /// dropped.
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

/// The thread: takes every write waiting (up to [`GROUP_LIMIT`]) and commits them together,
/// until every handle is dropped.
fn write_groups(connection: &Connection, queue: &mpsc::Receiver<Job>) {
    let mut synchronous = Durability::Immediate;
    while let Ok(first) = queue.recv() {
        let mut group = vec![first];
        while group.len() < GROUP_LIMIT
            && let Ok(job) = queue.try_recv()
        {
            group.push(job);
        }
        commit_group(connection, &mut synchronous, group);
    }
}

fn commit_group(connection: &Connection, synchronous: &mut Durability, group: Vec<Job>) {
    // A group waits for the disk if any of its writes must.
    let durability = if group.iter().any(|job| job.durability == Durability::Immediate) {
        Durability::Immediate
    } else {
        Durability::Deferred
    };
    let mut answers = Vec::with_capacity(group.len());
    let committed = (|| {
        if durability != *synchronous {
            run(connection, durability.pragma())?;
            *synchronous = durability;
        }
        let txn = Txn::begin(connection, "BEGIN IMMEDIATE")?;
        // A write alone needs no savepoint: when it fails, the transaction is rolled back.
        let alone = group.len() == 1;
        let mut kept = 0;
        for job in group {
            if !alone {
                run(&txn, "SAVEPOINT write")?;
            }
            match catch_unwind(AssertUnwindSafe(|| (job.run)(&txn))) {
                Ok(Ran { kept: true, answer }) => {
                    kept += 1;
                    answers.push(answer);
                    if !alone {
                        run(&txn, "RELEASE write")?;
                    }
                }
                failed => {
                    if let Ok(Ran { answer, .. }) = failed {
                        answers.push(answer);
                    }
                    if !alone {
                        run(&txn, "ROLLBACK TO write")?;
                        run(&txn, "RELEASE write")?;
                    }
                }
            }
        }
        if kept == 0 {
            // Dropped, the transaction rolls back: nothing to commit.
            return Ok(());
        }
        txn.commit()
    })();
    if let Err(error) = &committed {
        tracing::warn!(%error, writes = answers.len(), "a group of writes was not committed");
    }
    for answer in answers {
        answer(committed.clone());
    }
}
