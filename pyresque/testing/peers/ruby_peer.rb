# pyresque's Ruby resque peer driver (pyresque.testing.peers.RubyPeer starts it).
#
# Self-contained: resque (and resque-scheduler, for enqueue_at, where it loads) come from
# the load path the caller gives (-I, RUBYLIB) or the installed gems; then every file named
# in PYRESQUE_RUBY_REQUIRE (a path-separator list) is required: the user's job classes.
# Env: REDIS_URL, PYRESQUE_NAMESPACE.
#
# One JSON request per stdin line, one JSON reply per stdout line, in order:
#   {"id": 1, "op": "enqueue", "queue": "q", "class": "Mailer", "args": [1]}
#   -> {"id": 1, "ok": true, "result": true}
#   errors: {"id": 1, "ok": false, "name": "ArgumentError", "error": "message"}

$stdout.sync = true
ENV["FORK_PER_JOB"] ||= "false"

require "json"
require "resque"
begin
  require "resque-scheduler"
rescue LoadError
  nil # enqueue_at answers that resque-scheduler is missing
end

redis = Redis.new(url: ENV.fetch("REDIS_URL"))
Resque.redis = Redis::Namespace.new(ENV.fetch("PYRESQUE_NAMESPACE", "resque"), redis: redis)

ENV.fetch("PYRESQUE_RUBY_REQUIRE", "").split(File::PATH_SEPARATOR).reject(&:empty?).each do |file|
  require File.expand_path(file)
end

module PyresqueRubyPeer
  def self.scheduler!
    return if Resque.respond_to?(:enqueue_at_with_queue)

    raise LoadError, "resque-scheduler is not on the load path: add it to the peer's load_path"
  end

  # A real Resque::Worker reserving and performing jobs until `count` ran or the timeout.
  def self.work(queues, count, timeout)
    worker = Resque::Worker.new(*queues)
    worker.register_worker
    outcomes = []
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    while outcomes.size < count && Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
      job = worker.reserve
      unless job
        sleep 0.01
        next
      end
      outcomes << perform(worker, job)
    end
    outcomes
  ensure
    worker&.unregister_worker
  end

  def self.perform(worker, job)
    outcome = { "queue" => job.queue, "class" => job.payload["class"], "args" => job.payload["args"] }
    worker.working_on(job)
    begin
      job.perform
      outcome.merge("ok" => true, "result" => nil)
    rescue Exception => e # rubocop:disable Lint/RescueException -- a job's failure is an outcome
      worker.report_failed_job(job, e)
      outcome.merge("ok" => false, "error" => "#{e.class}: #{e.message.to_s.lines.first.to_s.chomp}")
    ensure
      worker.done_working
    end
  end

  def self.handle(req)
    case req["op"]
    when "enqueue"
      # A class the required files define goes through Resque.enqueue_to (its hooks run).
      klass = begin
        Object.const_get(req["class"])
      rescue NameError
        nil
      end
      if klass.is_a?(Module)
        Resque.enqueue_to(req["queue"], klass, *req["args"])
      else
        Resque::Job.create(req["queue"], req["class"], *req["args"])
      end
    when "enqueue_at"
      scheduler!
      Resque.enqueue_at_with_queue(req["queue"], Time.at(req["timestamp"] / 1000.0), req["class"], *req["args"])
      true
    when "size"
      Resque.size(req["queue"])
    when "work"
      work(req["queues"], req["count"], req["timeout"])
    else
      raise ArgumentError, "unknown op #{req['op']}"
    end
  end
end

$stdin.each_line do |line|
  req = nil
  begin
    req = JSON.parse(line)
    result = PyresqueRubyPeer.handle(req)
    puts JSON.generate({ "id" => req["id"], "ok" => true, "result" => result })
  rescue Exception => e # rubocop:disable Lint/RescueException -- everything goes back to Python
    puts JSON.generate({ "id" => req && req["id"], "ok" => false, "name" => e.class.name, "error" => e.message })
  end
end
