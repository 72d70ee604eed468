# A long-lived Ruby resque + resque-scheduler peer for pyresque's interop tests.
#
# resque and resque-scheduler are loaded from RUBYLIB (see interop/README.md); the
# Debian packages ruby-redis, ruby-redis-namespace, ruby-mono-logger, ruby-multi-json,
# ruby-rufus-scheduler, ruby-fugit and ruby-et-orbi provide their dependencies.
#
# One JSON request per line on stdin, one JSON reply per line on stdout:
#   {"id": 1, "op": "enqueue", "namespace": "ns", "queue": "q", "class": "Py::Job", "args": [1]}
#   -> {"id": 1, "ok": true, "result": true}
# Env: REDIS_URL (required), JSON_ADAPTER (json_gem | oj; default json_gem).

$stdout.sync = true
ENV["FORK_PER_JOB"] ||= "false"

require "json"
require "multi_json"
MultiJson.use((ENV["JSON_ADAPTER"] || "json_gem").to_sym)
require "resque"
require "resque-scheduler"
require "resque/failure/redis"

module PyresquePeer
  # Job classes are made on demand, so a test can name any constant path, with the
  # queue resque infers from the class (`@queue`).
  def self.job_class(name, queue)
    parent = Object
    parts = name.split("::")
    parts[0..-2].each do |mod|
      parent = parent.const_defined?(mod, false) ? parent.const_get(mod, false) : parent.const_set(mod, Module.new)
    end
    leaf = parts.last
    klass = parent.const_defined?(leaf, false) ? parent.const_get(leaf, false) : parent.const_set(leaf, Class.new)
    klass.instance_variable_set(:@queue, queue) if queue
    unless klass.respond_to?(:perform)
      klass.define_singleton_method(:perform) do |*args|
        raise ArgumentError, "boom #{args.inspect}" if name.end_with?("Fail")
        # Mark jobs record where they ran, like the node and Python peers' mark jobs.
        Resque.redis.rpush("done", "#{args.first}:ruby") if name.end_with?("Mark")
        Resque.redis.rpush("performed", MultiJson.dump([name, args]))
      end
    end
    klass
  end

  def self.use_namespace(namespace)
    @redis ||= Redis.new(url: ENV.fetch("REDIS_URL"))
    Resque.redis = Redis::Namespace.new(namespace || "resque", redis: @redis)
    # Resque::Stat memoises the first data store it sees; keep it on this namespace too.
    Resque::Stat.data_store = Resque.redis
  end

  def self.handle(req)
    use_namespace(req["namespace"])
    case req["op"]
    when "enqueue"
      Resque::Job.create(req["queue"], req["class"], *req["args"])
    when "push"
      # Resque.push of an item as given: what opentelemetry-ruby-contrib's resque
      # instrumentation pushes after `OpenTelemetry.propagation.inject(item)` added
      # "traceparent" (and "tracestate") as top-level string keys after class and args.
      item = req["item"].transform_keys { |k| %w[class args].include?(k) ? k.to_sym : k }
      Resque.push(req["queue"], item)
      Resque.redis.lindex("queue:#{req['queue']}", -1)
    when "enqueue_class"
      Resque.enqueue(job_class(req["class"], req["queue"]), *req["args"])
    when "enqueue_at"
      Resque.enqueue_at_with_queue(req["queue"], Time.at(req["at"]), req["class"], *req["args"])
    when "enqueue_in"
      Resque.enqueue_in_with_queue(req["queue"], req["seconds"], req["class"], *req["args"])
    when "remove_delayed"
      Resque.remove_delayed(job_class(req["class"], req["queue"]), *req["args"])
    when "scheduled_at"
      Resque.scheduled_at(job_class(req["class"], req["queue"]), *req["args"])
    when "delayed?"
      Resque.delayed?(job_class(req["class"], req["queue"]), *req["args"])
    when "dequeue"
      Resque.dequeue(job_class(req["class"], req["queue"]), *req["args"])
    when "queues"
      Resque.queues
    when "size"
      Resque.size(req["queue"])
    when "peek"
      Array(Resque.peek(req["queue"], req["start"] || 0, req["count"] || 1000))
    when "delayed_queue_peek"
      Resque.delayed_queue_peek(req["start"], req["count"])
    when "delayed_queue_schedule_size"
      Resque.delayed_queue_schedule_size
    when "delayed_timestamp_peek"
      Resque.delayed_timestamp_peek(req["timestamp"], req["start"], req["count"])
    when "count_all_scheduled_jobs"
      Resque.count_all_scheduled_jobs
    when "failed"
      Array(Resque::Failure.all(req["start"] || 0, req["count"] || 1000))
    when "failed_count"
      Resque::Failure.count
    when "version"
      { "resque" => Resque::VERSION, "scheduler" => Resque::Scheduler::VERSION }
    when "requeue_failed"
      Resque::Failure.requeue(req["index"])
      true
    when "remove_failed"
      Resque::Failure.remove(req["index"])
      true
    when "workers"
      Resque.workers.map(&:to_s).sort
    when "working"
      Resque.working.map(&:to_s).sort
    when "worker_job"
      Resque::Worker.find(req["id"])&.job
    when "info"
      Resque.info.reject { |k, _| k == :servers || k == :environment }
    when "stat"
      Resque::Stat[req["name"]]
    when "register_worker"
      queues = req["queues"]
      worker = Resque::Worker.new(*queues)
      worker.register_worker
      worker.to_s
    when "prune"
      # What every Ruby worker does at start-up: prune dead workers (same host and queues,
      # pid not a live resque process; or heartbeat older than the prune interval).
      Resque::Worker.new(*req["queues"]).prune_dead_workers
      Resque.workers.map(&:to_s).sort
    when "work"
      # A real Ruby worker, in this process, until its queues are empty (INTERVAL=0).
      (req["classes"] || []).each { |name| job_class(name, nil) }
      worker = Resque::Worker.new(*req["queues"])
      worker.work(0)
      true
    when "working_on"
      # The working-on record a real Ruby worker writes for this payload (and run_at).
      worker = Resque::Worker.new(req["queue"])
      job = Resque::Job.new(req["queue"], Resque.decode(req["payload"]))
      worker.working_on(job)
      record = Resque.decode(Resque.redis.get("worker:#{worker}"))
      Resque.redis.del("worker:#{worker}")
      Resque.encode(queue: req["queue"], run_at: req["run_at"], payload: record["payload"])
    when "fail_job"
      # A real worker processes one job of a failing class: a failure entry as Ruby writes it.
      job_class(req["class"], req["queue"])
      Resque::Job.create(req["queue"], req["class"], *req["args"])
      worker = Resque::Worker.new(req["queue"])
      job = worker.reserve
      worker.perform(job)
      worker.unregister_worker
      true
    when "hostname"
      Socket.gethostname
    else
      raise ArgumentError, "unknown op #{req['op']}"
    end
  end
end

$stdin.each_line do |line|
  req = nil
  begin
    req = JSON.parse(line)
    result = PyresquePeer.handle(req)
    puts JSON.generate({ "id" => req["id"], "ok" => true, "result" => result })
  rescue Exception => e # rubocop:disable Lint/RescueException -- report everything to the harness
    puts JSON.generate({ "id" => req && req["id"], "ok" => false, "name" => e.class.name,
                         "error" => e.message })
  end
end
