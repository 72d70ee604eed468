# A real resque-scheduler (Resque::Scheduler.run) for pyresque's interop tests, as
# `rake resque:scheduler` runs it: leader election on the master lock, delayed items
# moved to their queues every RESQUE_SCHEDULER_INTERVAL seconds, TERM/INT release the lock.
#
# resque and resque-scheduler come from RUBYLIB (see interop/README.md).
# Env: REDIS_URL and NAMESPACE (required); RESQUE_SCHEDULER_INTERVAL (seconds, default 5)
# and LOCK_TIMEOUT (seconds, default 180) are resque-scheduler's own settings.

$stdout.sync = true
$stderr.sync = true

require "resque"
require "resque-scheduler"

Resque.redis = Redis::Namespace.new(ENV.fetch("NAMESPACE"), redis: Redis.new(url: ENV.fetch("REDIS_URL")))
Resque::Scheduler.configure do |c|
  c.dynamic = false
  c.verbose = ENV["VERBOSE"] == "1"
end
# The lock value, so a test can tell this process's lock from the others'.
puts "lock #{Resque::Scheduler.master_lock.key} #{Resque::Scheduler.master_lock.value}"
Resque::Scheduler.run
