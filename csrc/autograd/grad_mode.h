#pragma once
// Grad mode is thread-local, as in PyTorch: no_grad on one thread leaves others alone.
namespace tg {

struct GradMode {
  static bool is_enabled() { return enabled_; }
  static void set_enabled(bool on) { enabled_ = on; }
 private:
  static thread_local bool enabled_;
};

struct GradModeGuard {
  explicit GradModeGuard(bool on) : prev_(GradMode::is_enabled()) { GradMode::set_enabled(on); }
  ~GradModeGuard() { GradMode::set_enabled(prev_); }
  GradModeGuard(const GradModeGuard&) = delete;
  GradModeGuard& operator=(const GradModeGuard&) = delete;
 private:
  bool prev_;
};

}  // namespace tg
