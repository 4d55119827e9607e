#include "kernels/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include <cblas.h>

#include "tensor/errors.h"

namespace tg {
namespace {

thread_local bool in_parallel_region = false;

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
    uint64_t start;
    {
      std::lock_guard<std::mutex> lk(mu_);
      start = generation_;
    }
    for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i, start] { worker_loop(i, start); });
  }
  int size() const { return num_threads_; }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    int tasks = int(std::min<int64_t>(num_threads_, (n + grain - 1) / grain));
    std::unique_lock<std::mutex> busy(busy_, std::try_to_lock);
    if (tasks <= 1 || in_parallel_region || !busy.owns_lock()) { fn(0, n); return; }
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn; n_ = n; tasks_ = tasks; pending_ = tasks - 1; ++generation_;
    }
    cv_work_.notify_all();
    in_parallel_region = true;
    run_task(0);
    in_parallel_region = false;
    std::unique_lock<std::mutex> lk(mu_);
    cv_done_.wait(lk, [&] { return pending_ == 0; });
    fn_ = nullptr;
  }

 private:
  void run_task(int t) {
    int64_t chunk = (n_ + tasks_ - 1) / tasks_;
    int64_t b = t * chunk, e = std::min(n_, b + chunk);
    if (b < e) (*fn_)(b, e);
  }
  void worker_loop(int index, uint64_t seen) {
    in_parallel_region = true;
    for (;;) {
      std::unique_lock<std::mutex> lk(mu_);
      cv_work_.wait(lk, [&] { return stopping_ || generation_ != seen; });
      if (stopping_) return;
      seen = generation_;
      if (index >= tasks_) continue;
      lk.unlock();
      run_task(index);
      lk.lock();
      if (--pending_ == 0) cv_done_.notify_one();
    }
  }
  void stop_workers() {
    { std::lock_guard<std::mutex> lk(mu_); stopping_ = true; }
    cv_work_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::mutex busy_;  // one caller at a time uses the workers
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  std::vector<std::thread> workers_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0;
  int tasks_ = 0, pending_ = 0, num_threads_ = 1;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

ThreadPool& pool() {
  static ThreadPool* p = [] {
    auto* tp = new ThreadPool();  // leaked on purpose: no join at interpreter exit
    tp->resize(int(std::max(1u, std::thread::hardware_concurrency())));
    return tp;
  }();
  return *p;
}

}  // namespace

void set_num_threads(int n) {
  TG_CHECK(n >= 1 && n <= kMaxThreads, ValueError, "set_num_threads: the thread count must be between 1 and ",
           kMaxThreads, ", got ", n);
  pool().resize(n);
  scipy_openblas_set_num_threads(std::min(n, 64));  // OpenBLAS's own ceiling (MAX_THREADS)
}
int get_num_threads() { return pool().size(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (n <= grain) { fn(0, n); return; }
  pool().run(n, grain, fn);
}

}  // namespace tg
