# Real Rails ActiveJob (resque adapter) beside pyresque. Needs resque + resque-scheduler
# on RUBYLIB (interop/README.md) and activejob (Debian's ruby-activejob, or the gem).
#
#   ruby activejob.rb record REDIS_URL NAMESPACE   named perform_later calls; prints JSON
#   ruby activejob.rb roundtrip - -     serialized arguments in, re-serialized out (lines)
#   ruby activejob.rb work REDIS_URL NAMESPACE QUEUE
#       a real resque worker running ActiveJob jobs until QUEUE is empty; each job
#       appends its job class, arguments (inspected) and job id to NAMESPACE:ran

require "json"
require "active_job"
require "resque"
require "resque-scheduler"

ActiveJob::Base.queue_adapter = :resque
ActiveJob::Base.logger = Logger.new(nil)
GlobalID.app = "shop"

class Invoice
  include GlobalID::Identification
  attr_reader :id
  def initialize(id) = @id = id
  def self.find(id) = new(id)
end

class RecordingJob < ActiveJob::Base
  queue_as :python
  def perform(*args, **kwargs)
    shown = args.map { |a| a.is_a?(Invoice) ? "Invoice##{a.id}" : a }
    Resque.redis.rpush("ran", JSON.generate([self.class.name, shown.inspect, kwargs.inspect, job_id]))
  end
end

class SendInvoiceJob < RecordingJob; end
class ChargeJob < RecordingJob; end

mode, url, namespace, queue = ARGV
unless mode == "roundtrip"
  Resque.redis = Redis.new(url: url)
  Resque.redis.namespace = namespace
end

def written(namespace)
  redis = Resque.redis.redis
  keys = redis.keys("#{namespace}:queue:*") + redis.keys("#{namespace}:delayed:*")
  keys.sort.to_h { |k| [k.delete_prefix("#{namespace}:"), redis.lrange(k, 0, -1)] }
end

CASES = {
  "positional" => -> { SendInvoiceJob.perform_later(42, "hi", 1.5, nil, true, -7) },
  "keywords" => -> { SendInvoiceJob.perform_later(42, force: true, note: "x") },
  "symbols" => -> { SendInvoiceJob.perform_later(:urgent, { a: 1, "b" => [:sym, 2] }) },
  "times" => -> {
    SendInvoiceJob.perform_later(Time.utc(2026, 11, 28, 12, 0, 0, 123456), Date.new(2026, 11, 28),
                                 Time.new(2026, 6, 1, 9, 30, 0, "+02:00"))
  },
  "global_id" => -> { ChargeJob.perform_later(Invoice.new(7), { "amount" => 12.5 }) },
  "empty" => -> { ChargeJob.perform_later([], {}) },
  "unicode" => -> { ChargeJob.perform_later("é ✓ 😀", { "ключ" => "值" }) },
  "queue_name" => -> { ChargeJob.set(queue: "billing").perform_later(1) },
  "delayed" => -> { ChargeJob.set(wait_until: Time.at(1_900_000_000)).perform_later(2, when: "later") },
}.freeze

case mode
when "record"
  out = CASES.map do |name, call|
    Resque.redis.redis.flushdb
    job = call.call
    { "name" => name, "job_id" => job.job_id, "writes" => written(namespace) }
  end
  puts JSON.generate({ "activejob" => ActiveJob::VERSION::STRING, "resque" => Resque::VERSION,
                       "cases" => out })
when "enqueue"
  CASES.fetch(queue).call
  puts "ok"
when "roundtrip"
  # One JSON array of serialized arguments per stdin line; answers with what ActiveJob
  # serializes again after deserializing it (or {"error": ...}), one line each.
  $stdout.sync = true
  $stdin.each_line do |line|
    args = ActiveJob::Arguments.deserialize(JSON.parse(line))
    puts JSON.generate(ActiveJob::Arguments.serialize(args))
  rescue StandardError => e
    puts JSON.generate({ "error" => "#{e.class}: #{e.message}" })
  end
when "work"
  worker = Resque::Worker.new(queue)
  worker.work(0)
  puts "done"
else
  abort "usage: activejob.rb record|enqueue|work|roundtrip REDIS_URL NAMESPACE [QUEUE|CASE]"
end
