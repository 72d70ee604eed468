# pyresque's Ruby resque + resque-scheduler peer, driven over JSON lines: by
# `pyresque conformance` (pyresque.conformance.drivers.start_ruby) and by the pytest
# fixtures ruby_peer / make_ruby_peer (pyresque.testing.peers.RubyPeer).
#
# Self-contained (ships in pyresque's wheel). resque, and resque-scheduler where it loads,
# come from the load path the caller gives (-I, RUBYLIB) or the installed gems; then every
# file named in PYRESQUE_RUBY_REQUIRE (a path-separator list) is required: the user's job
# classes. Env: REDIS_URL; PYRESQUE_NAMESPACE, the namespace of a request that names none.
#
# One JSON request per stdin line, one JSON reply per stdout line, in order:
#   {"id": 1, "op": "enqueue", "namespace": "ns", "queue": "q", "class": "Mailer", "args": [1]}
#   -> {"id": 1, "ok": true, "result": true}
#   errors: {"id": 1, "ok": false, "name": "ArgumentError", "error": "message"}

$stdout.sync = true
ENV["FORK_PER_JOB"] ||= "false"

require "json"
require "logger"
require "resque"
require "resque/failure/redis"
begin
  require "resque-scheduler"
rescue LoadError
  nil # the scheduler ops answer that resque-scheduler is missing
end

# resque logs to stdout by default: stdout is this driver's replies.
Resque.logger = Logger.new($stderr, level: Logger::WARN)

ENV.fetch("PYRESQUE_RUBY_REQUIRE", "").split(File::PATH_SEPARATOR).reject(&:empty?).each do |file|
  require File.expand_path(file)
end

module PyresqueRubyPeer
  DEFAULT_NAMESPACE = ENV.fetch("PYRESQUE_NAMESPACE", "resque")
  # Resque::Worker objects registered by worker_register, by id, until worker_unregister.
  WORKERS = {}

  def self.use_namespace(namespace)
    @redis ||= Redis.new(url: ENV.fetch("REDIS_URL"))
    Resque.redis = Redis::Namespace.new(namespace || DEFAULT_NAMESPACE, redis: @redis)
    # Resque::Stat memoises the first data store it sees; keep it on this namespace too.
    Resque::Stat.data_store = Resque.redis
  end

  # Job classes made on demand (unless the required files define them): a name ending in
  # "Fail" raises ArgumentError(args[0]); `queue` becomes the class's @queue.
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
        raise ArgumentError, args.first.to_s if name.end_with?("Fail")
        nil
      end
    end
    klass
  end

  def self.defined_class(name)
    found = Object.const_get(name)
    found.is_a?(Module) ? found : nil
  rescue NameError
    nil
  end

  def self.scheduler!
    raise LoadError, "resque-scheduler is not on the load path: add it to the peer's load_path" \
      unless defined?(Resque::Scheduler) && Resque.respond_to?(:enqueue_at_with_queue)

    # resque-scheduler keeps its master lock (built for the namespace of the time) and
    # whether it is master per process; this process changes namespace per request.
    %i[@master_lock @am_master].each do |memo|
      Resque::Scheduler.remove_instance_variable(memo) if Resque::Scheduler.instance_variable_defined?(memo)
    end
    @scheduler_logger ||= Resque::Scheduler.logger = Logger.new($stderr, level: Logger::WARN) # stdout is ours
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

  def self.registered(id)
    WORKERS.fetch(id) { raise ArgumentError, "no worker #{id} registered by worker_register" }
  end

  def self.handle(req)
    use_namespace(req["namespace"])
    case req["op"]
    when "version"
      { "resque" => Resque::VERSION, "ruby" => RUBY_VERSION,
        "resque-scheduler" => defined?(Resque::Scheduler::VERSION) ? Resque::Scheduler::VERSION : nil }
    when "enqueue"
      # A class the required files define goes through Resque.enqueue_to (its hooks run).
      klass = defined_class(req["class"])
      if klass
        Resque.enqueue_to(req["queue"], klass, *req["args"])
      else
        Resque::Job.create(req["queue"], req["class"], *req["args"])
      end
    when "enqueue_class"
      Resque.enqueue(job_class(req["class"], req["queue"]), *req["args"])
    when "enqueue_at"
      scheduler!
      Resque.enqueue_at_with_queue(req["queue"], Time.at(req["at"]), req["class"], *req["args"])
      true
    when "peek"
      Array(Resque.peek(req["queue"], 0, 1000))
    when "size"
      Resque.size(req["queue"])
    when "scheduled_at"
      Resque.scheduled_at(job_class(req["class"], req["queue"]), *req["args"])
    when "work"
      work(req["queues"], req["count"], req["timeout"])
    when "work_burst"
      # A real worker, in this process, until its queues are empty (INTERVAL=0).
      (req["classes"] || []).each { |name| job_class(name, nil) }
      Resque::Worker.new(*req["queues"]).work(0)
      true
    when "failed"
      Array(Resque::Failure.all(0, 1000))
    when "info"
      Resque.info.reject { |k, _| k == :servers || k == :environment }
    when "worker_register"
      # A worker entering its life cycle (as Resque::Worker#startup does): registered, one
      # heartbeat (now, or at `heartbeat_at` seconds). `worker` (host:pid:queues) replaces
      # this process's own id, through Worker#to_s=.
      worker = Resque::Worker.new(*req["queues"])
      worker.to_s = req["worker"] if req["worker"]
      worker.register_worker
      req["heartbeat_at"] ? worker.heartbeat!(Time.at(req["heartbeat_at"])) : worker.heartbeat!
      WORKERS[worker.to_s] = worker
      worker.to_s
    when "worker_working_on"
      # Worker#working_on a job of `payload` (its exact JSON text) from `queue`.
      registered(req["worker"]).working_on(Resque::Job.new(req["queue"], Resque.decode(req["payload"])))
      true
    when "worker_unregister"
      worker = registered(req["worker"])
      worker.done_working if worker.processing && !worker.processing.empty?
      worker.unregister_worker
      WORKERS.delete(req["worker"])
      true
    when "prune_dead_workers"
      # What every Ruby worker does at start-up, from a worker on `queues`.
      Resque::Worker.new(*req["queues"]).prune_dead_workers
      Resque.workers.map(&:to_s).sort
    when "scheduler_master"
      # Resque::Scheduler.master?: takes (or holds) the master lock.
      scheduler!
      { "master" => Resque::Scheduler.master?, "key" => Resque::Scheduler.master_lock.key,
        "value" => Resque::Scheduler.master_lock.value }
    when "scheduler_release"
      scheduler!
      Resque::Scheduler.release_master_lock
      true
    when "scheduler_handle_delayed_items"
      # One pass of the master's loop: every delayed item due (at `at` seconds, else now) to
      # its queue; it takes the master lock first (scheduler_release lets it go).
      scheduler!
      Resque::Scheduler.handle_delayed_items(req["at"] && Time.at(req["at"]))
      true
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
