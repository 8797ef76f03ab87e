//! One lock per customer, held while a customer's balance-changing work is planned and committed.
//!
//! A customer's readings, bills, top-ups and valve changes are planned against what earlier ones
//! left (annual volume, last reading, what the wallet can still pay, arrears), so they must run
//! one at a time per customer. Different customers must not wait for each other: two concentrators
//! posting batches for disjoint sets of meters plan at the same time and share a group commit.
//! (A fixed set of lock stripes made two 1 000-customer batches collide on nearly every stripe, so
//! they ran one after the other, each holding its stripes through its `fsync`.)
//!
//! A lock exists only while someone holds or waits for it: the table holds an entry per customer
//! in use, and the last guard to let go removes it. Several customers are always locked in
//! ascending id order, so two multi-customer holders cannot deadlock.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OwnedMutexGuard;
use uuid::Uuid;

/// The table of customer locks in use.
#[derive(Debug, Default)]
pub struct CustomerLocks {
    in_use: Mutex<HashMap<Uuid, Arc<tokio::sync::Mutex<()>>>>,
}

/// Holds the locks of one or more customers; dropping it releases them.
#[derive(Debug)]
pub struct CustomerGuard<'a> {
    table: &'a CustomerLocks,
    held: Vec<(Uuid, OwnedMutexGuard<()>)>,
}

impl CustomerLocks {
    pub fn new() -> CustomerLocks {
        CustomerLocks::default()
    }

    /// Waits for one customer's lock.
    pub async fn lock(&self, customer: Uuid) -> CustomerGuard<'_> {
        self.lock_all([customer]).await
    }

    /// Waits for the locks of all these customers (duplicates are fine), taken in ascending order.
    /// Cancel-safe: locks taken before the future is dropped are released with it.
    pub async fn lock_all(&self, customers: impl IntoIterator<Item = Uuid>) -> CustomerGuard<'_> {
        let mut ordered: Vec<Uuid> = customers.into_iter().collect();
        ordered.sort_unstable();
        ordered.dedup();
        let mut guard = CustomerGuard { table: self, held: Vec::with_capacity(ordered.len()) };
        for customer in ordered {
            let lock = Arc::clone(self.in_use.lock().entry(customer).or_default());
            guard.held.push((customer, lock.lock_owned().await));
        }
        guard
    }

    /// Customers whose lock is held or waited for (for tests and metrics).
    pub fn in_use(&self) -> usize {
        self.in_use.lock().len()
    }
}

impl Drop for CustomerGuard<'_> {
    fn drop(&mut self) {
        let held = std::mem::take(&mut self.held);
        let customers: Vec<Uuid> = held.iter().map(|(customer, _)| *customer).collect();
        // Release first: a waiter's clone of the lock keeps its entry alive below.
        drop(held);
        let mut in_use = self.table.in_use.lock();
        for customer in customers {
            // Only the table's own reference left: nobody holds or waits for it. New waiters clone
            // under this same mutex, so the count cannot grow behind our back.
            if in_use.get(&customer).is_some_and(|lock| Arc::strong_count(lock) == 1) {
                in_use.remove(&customer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn customer(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[tokio::test]
    async fn a_customer_is_locked_once_at_a_time() {
        let locks = Arc::new(CustomerLocks::new());
        let first = locks.lock(customer(1)).await;
        let waiting = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move {
                let _second = locks.lock(customer(1)).await;
            })
        };
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a second holder got in while the first held the lock");
        drop(first);
        tokio::time::timeout(Duration::from_secs(5), waiting).await.expect("released").expect("task");
        assert_eq!(locks.in_use(), 0, "entries of released locks stay in the table");
    }

    #[tokio::test]
    async fn different_customers_do_not_wait_for_each_other() {
        let locks = CustomerLocks::new();
        let first = locks.lock_all([customer(1), customer(2), customer(3)]).await;
        let second = tokio::time::timeout(Duration::from_secs(1), locks.lock_all([customer(4), customer(5)])).await;
        assert!(second.is_ok(), "disjoint customers waited");
        assert_eq!(locks.in_use(), 5);
        drop(first);
        assert_eq!(locks.in_use(), 2);
        drop(second);
        assert_eq!(locks.in_use(), 0);
    }

    #[tokio::test]
    async fn overlapping_groups_in_any_order_do_not_deadlock() {
        let locks = Arc::new(CustomerLocks::new());
        let mut tasks = Vec::new();
        for task in 0..8u128 {
            let locks = Arc::clone(&locks);
            tasks.push(tokio::spawn(async move {
                for round in 0..200u128 {
                    // Groups listed in different orders, overlapping on customers 0..4.
                    let group = if (task + round) % 2 == 0 {
                        vec![customer(round % 4), customer(4 + task), customer((round + 1) % 4)]
                    } else {
                        vec![customer((round + 1) % 4), customer(4 + task), customer(round % 4)]
                    };
                    let _guard = locks.lock_all(group).await;
                    tokio::task::yield_now().await;
                }
            }));
        }
        for task in tasks {
            tokio::time::timeout(Duration::from_secs(10), task).await.expect("no deadlock").expect("task");
        }
        assert_eq!(locks.in_use(), 0);
    }

    #[tokio::test]
    async fn a_cancelled_wait_releases_what_it_took() {
        let locks = CustomerLocks::new();
        let blocker = locks.lock(customer(2)).await;
        // Takes customer 1, then waits for 2 until cancelled by the timeout.
        let cancelled =
            tokio::time::timeout(Duration::from_millis(20), locks.lock_all([customer(1), customer(2)])).await;
        assert!(cancelled.is_err());
        let again = tokio::time::timeout(Duration::from_secs(1), locks.lock(customer(1))).await;
        assert!(again.is_ok(), "customer 1 stayed locked after the cancelled wait");
        drop(again);
        drop(blocker);
        assert_eq!(locks.in_use(), 0);
    }
}
