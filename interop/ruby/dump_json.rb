# Long-lived MultiJson.dump peer for pyresque's interop tests and vector recording.
#
# JSON_ADAPTER=json_gem|oj picks the MultiJson adapter. First output line: the versions.
# Then, for each input line (JSON text), one output line: MultiJson.dump of the parsed
# value as a JSON string literal, or {"error": "..."} if that raises. Input is always
# parsed with the json gem (exact floats, exact big integers); a single-key object
# {"$nonfinite": "NaN" | "Infinity" | "-Infinity"} stands for that Float.
require "json"
require "multi_json"

adapter = ENV.fetch("JSON_ADAPTER", "json_gem")
require "oj" if adapter == "oj" # a plain resque install has no Oj loaded at all
MultiJson.use(adapter.to_sym)

NONFINITE = { "NaN" => Float::NAN, "Infinity" => Float::INFINITY, "-Infinity" => -Float::INFINITY }.freeze

def revive(value)
  case value
  when Array then value.map { |item| revive(item) }
  when Hash
    if value.size == 1 && NONFINITE.key?(value["$nonfinite"])
      NONFINITE[value["$nonfinite"]]
    else
      value.transform_values { |item| revive(item) }
    end
  else value
  end
end

$stdout.sync = true
versions = {
  "ruby" => RUBY_VERSION, "adapter" => MultiJson.adapter.name,
  "multi_json" => MultiJson::VERSION, "json" => JSON::VERSION
}
versions["oj"] = Oj::VERSION if defined?(Oj)
$stdout.puts JSON.generate(versions)
$stdin.each_line do |line|
  reply =
    begin
      JSON.generate(MultiJson.dump(revive(JSON.parse(line))))
    rescue StandardError => e
      JSON.generate("error" => "#{e.class}: #{e.message}")
    end
  $stdout.puts reply
end
