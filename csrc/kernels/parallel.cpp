#include "kernels/parallel.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include <cblas.h>

#include "tensor/errors.h"

namespace tg {
namespace {

thread_local bool in_parallel_region = false;

// Large ops come in bursts (a layer's forward, then its backward), and waking a sleeping
// thread costs tens of microseconds, more than a 100,000-element op takes. So a thread
// that waits first polls for this long, yielding its core to anyone runnable, and only
// then sleeps; an idle pool costs nothing after that.
constexpr auto kSpinBeforeSleep = std::chrono::microseconds(100);

template <typename Ready>
bool spin_until(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinBeforeSleep;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      __builtin_ia32_pause();
    }
    if (std::chrono::steady_clock::now() > deadline) return ready();
    sched_yield();
  }
}

class ThreadPool {
 public:
  ~ThreadPool() { stop_workers(); }

  void resize(int n) {
    std::lock_guard<std::mutex> busy(busy_);
    stop_workers();
    num_threads_ = std::max(1, n);
    stopping_ = false;
    // Workers start from the current generation: tasks published after this point
    // are theirs, earlier ones (already finished) are not.
    const uint64_t start = generation_.load();
    for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i, start] { worker_loop(i, start); });
  }
  int size() const { return num_threads_; }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    const int tasks = int(std::min<int64_t>(num_threads_, (n + grain - 1) / grain));
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (tasks <= 1 || in_parallel_region || !busy.owns_lock()) { fn(0, n); return; }
    const Job job{&fn, n, tasks};
    pending_.store(tasks - 1);
    {
      std::lock_guard<std::mutex> lk(mu_);
      job_ = job;
      generation_.fetch_add(1);
    }
    cv_work_.notify_all();
    in_parallel_region = true;
    job.run_task(0);
    in_parallel_region = false;
    if (!spin_until([&] { return pending_.load() == 0; })) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_done_.wait(lk, [&] { return pending_.load() == 0; });
    }
  }

 private:
  struct Job {
    const std::function<void(int64_t, int64_t)>* fn = nullptr;
    int64_t n = 0;
    int tasks = 0;
    void run_task(int t) const {
      const int64_t chunk = (n + tasks - 1) / tasks;
      const int64_t b = t * chunk, e = std::min(n, b + chunk);
      if (b < e) (*fn)(b, e);
    }
  };

  void worker_loop(int index, uint64_t seen) {
    in_parallel_region = true;
    for (;;) {
      spin_until([&] { return generation_.load() != seen || stopping_.load(); });
      Job job;
      {
        std::unique_lock<std::mutex> lk(mu_);
        cv_work_.wait(lk, [&] { return stopping_.load() || generation_.load() != seen; });
        if (stopping_) return;
        seen = generation_.load();
        job = job_;  // read under the lock with the generation: one consistent job
      }
      if (index >= job.tasks) continue;
      job.run_task(index);
      if (pending_.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lk(mu_);  // the caller may be about to sleep on cv_done_
        cv_done_.notify_one();
      }
    }
  }
  void stop_workers() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stopping_ = true;
    }
    cv_work_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::mutex busy_;  // one caller at a time uses the workers
  std::mutex mu_;    // guards job_ and the sleeping side of generation_/pending_
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> workers_;
  Job job_;
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> pending_{0};
  std::atomic<bool> stopping_{false};
  int num_threads_ = 1;
};

// The pool is made on first use. A process forked from this one has none of its
// workers (fork copies only the calling thread), so the child abandons the copy and
// makes a fresh pool of the same size when it next needs one.
std::atomic<ThreadPool*> current_pool{nullptr};
std::mutex pool_creation;
std::atomic<int> requested_threads{0};  // 0: one per core

void forget_pool_after_fork() {
  current_pool.store(nullptr);  // leaked: its threads do not exist here
  new (&pool_creation) std::mutex();  // another thread may have held it at the fork
  in_parallel_region = false;
}

ThreadPool& pool() {
  if (ThreadPool* p = current_pool.load(std::memory_order_acquire)) return *p;
  std::lock_guard<std::mutex> lk(pool_creation);
  if (ThreadPool* p = current_pool.load()) return *p;
  static const bool registered = [] {
    pthread_atfork(nullptr, nullptr, forget_pool_after_fork);
    return true;
  }();
  (void)registered;
  use_single_threaded_blas();
  auto* p = new ThreadPool();  // never destroyed: no join at interpreter exit
  const int n = requested_threads.load();
  p->resize(n > 0 ? n : int(std::max(1u, std::thread::hardware_concurrency())));
  current_pool.store(p, std::memory_order_release);
  return *p;
}

}  // namespace

void use_single_threaded_blas() {
  static const bool once = [] {
    scipy_openblas_set_num_threads(1);
    return true;
  }();
  (void)once;
}

void set_num_threads(int n) {
  TG_CHECK(n >= 1 && n <= kMaxThreads, ValueError, "set_num_threads: the thread count must be between 1 and ",
           kMaxThreads, ", got ", n);
  requested_threads.store(n);
  pool().resize(n);
}
int get_num_threads() { return pool().size(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (n <= grain) { fn(0, n); return; }
  pool().run(n, grain, fn);
}

}  // namespace tg
