# pyresque conformance: a Ruby resque + resque-scheduler peer driven over JSON lines.
#
# Self-contained (ships in pyresque's wheel). resque and resque-scheduler come from the
# user's RUBYLIB (or installed gems). Redis from REDIS_URL.
#   {"id": 1, "op": "enqueue_class", "namespace": "ns", "queue": "q", "class": "A::B", "args": [1]}
#   -> {"id": 1, "ok": true, "result": ...}

$stdout.sync = true
ENV["FORK_PER_JOB"] ||= "false"

require "json"
require "resque"
require "resque-scheduler"
require "resque/failure/redis"

module PyresqueConformance
  # Job classes made on demand: a name ending in "Fail" raises ArgumentError(args[0]).
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

  def self.use_namespace(namespace)
    @redis ||= Redis.new(url: ENV.fetch("REDIS_URL"))
    Resque.redis = Redis::Namespace.new(namespace, redis: @redis)
    Resque::Stat.data_store = Resque.redis
  end

  def self.handle(req)
    use_namespace(req["namespace"] || "resque")
    case req["op"]
    when "version"
      { "resque" => Resque::VERSION, "resque-scheduler" => Resque::Scheduler::VERSION,
        "ruby" => RUBY_VERSION }
    when "enqueue_class"
      Resque.enqueue(job_class(req["class"], req["queue"]), *req["args"])
    when "enqueue_at"
      Resque.enqueue_at_with_queue(req["queue"], Time.at(req["at"]), req["class"], *req["args"])
    when "peek"
      Array(Resque.peek(req["queue"], 0, 1000))
    when "size"
      Resque.size(req["queue"])
    when "scheduled_at"
      Resque.scheduled_at(job_class(req["class"], req["queue"]), *req["args"])
    when "work"
      (req["classes"] || []).each { |name| job_class(name, nil) }
      Resque::Worker.new(*req["queues"]).work(0)
      true
    when "failed"
      Array(Resque::Failure.all(0, 1000))
    when "info"
      Resque.info.reject { |k, _| k == :servers || k == :environment }
    else
      raise ArgumentError, "unknown op #{req['op']}"
    end
  end
end

$stdin.each_line do |line|
  req = nil
  begin
    req = JSON.parse(line)
    result = PyresqueConformance.handle(req)
    puts JSON.generate({ "id" => req["id"], "ok" => true, "result" => result })
  rescue Exception => e # rubocop:disable Lint/RescueException -- report everything
    puts JSON.generate({ "id" => req && req["id"], "ok" => false, "name" => e.class.name,
                         "error" => e.message })
  end
end
