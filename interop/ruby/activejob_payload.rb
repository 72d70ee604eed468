# What Rails 6.1's resque adapter writes for a job given its every field (for
# interop/test_peer_strategies.py). Needs resque on RUBYLIB and activejob.
#
#   ruby activejob_payload.rb REDIS_URL NAMESPACE
#
# One JSON object per stdin line: job_class, job_id, queue_name, priority, arguments
# (ActiveJob-serialized), locale, timezone, enqueued_at (epoch seconds). The job is
# enqueued through the real adapter (Time.now held at enqueued_at); the reply line is
# {"raw": the bytes it pushed} or {"error": ...}.

$stdout.sync = true
require "json"
require "multi_json"
MultiJson.use((ENV["JSON_ADAPTER"] || "json_gem").to_sym)
require "active_job"
require "resque"

ActiveJob::Base.queue_adapter = :resque
ActiveJob::Base.logger = Logger.new(nil)
I18n.enforce_available_locales = false

module HeldClock
  class << self
    attr_accessor :now
  end

  def now = HeldClock.now || super
end
Time.singleton_class.prepend(HeldClock)

url, namespace = ARGV
Resque.redis = Redis::Namespace.new(namespace, redis: Redis.new(url: url))

def job_class(name)
  parent = Object
  *mods, leaf = name.split("::")
  mods.each do |mod|
    parent = parent.const_defined?(mod, false) ? parent.const_get(mod, false) : parent.const_set(mod, Module.new)
  end
  return parent.const_get(leaf, false) if parent.const_defined?(leaf, false)

  parent.const_set(leaf, Class.new(ActiveJob::Base))
end

$stdin.each_line do |line|
  spec = JSON.parse(line)
  job = job_class(spec["job_class"]).new
  job.arguments = ActiveJob::Arguments.deserialize(spec["arguments"])
  job.job_id = spec["job_id"]
  job.queue_name = spec["queue_name"]
  job.priority = spec["priority"]
  job.timezone = spec["timezone"]
  I18n.locale = spec["locale"]
  HeldClock.now = Time.at(spec["enqueued_at"])
  begin
    job.enqueue
  ensure
    HeldClock.now = nil
  end
  puts JSON.generate({ "raw" => Resque.redis.lpop("queue:#{spec['queue_name']}") })
rescue StandardError => e
  puts JSON.generate({ "error" => "#{e.class}: #{e.message}" })
end
