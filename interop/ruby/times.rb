# Prints, as JSON, the time strings Ruby resque 2.7 / resque-scheduler 4.11 write, for the zone
# in ENV['TZ']. Input (stdin, JSON): {"instants": [[num, den]...], "to_i": [[num, den] | float...],
# "abbreviations": [...]}. Driven by interop/record/record_time_vectors.py, one process per zone.
require 'json'
require 'time'
require 'date'

input = JSON.parse($stdin.read)

def instant(pair)
  Time.at(Rational(pair[0], pair[1]))
end

def parsed(text)
  Time.parse(text).to_i
rescue ArgumentError
  nil
end

out = {
  'zone' => ENV['TZ'],
  'instants' => input['instants'].map do |pair|
    t = instant(pair)
    failed_at = t.strftime('%Y/%m/%d %H:%M:%S %Z')
    {
      'ms' => pair[0],
      'to_s' => t.to_s,                                     # worker started, last_enqueued_at
      'iso8601' => t.iso8601,                               # workers:heartbeat
      'utc_iso8601' => t.getutc.iso8601,                    # working-on run_at
      'failed_at' => failed_at,                             # failure failed_at
      'retried_at' => t.strftime('%Y/%m/%d %H:%M:%S'),      # resque 2.7 retried_at (3.0: failed_at's)
      'to_i' => t.to_i,                                     # delayed buckets
      'time_parse_to_s' => parsed(t.to_s),
      'time_parse_iso8601' => parsed(t.iso8601),
      'time_parse_failed_at' => parsed(failed_at),
      'datetime_parse_failed_at' => DateTime.parse(failed_at).to_time.to_i,
    }
  end,
  'to_i' => input['to_i'].map do |x|
    if x.is_a?(Array)
      [x, Time.at(Rational(x[0], x[1])).to_i, Rational(x[0], x[1]).to_i]
    else
      [x, Time.at(x).to_i, x.to_i]
    end
  end,
  'abbreviations' => input['abbreviations'].to_h do |abbr|
    [abbr, Date._parse("2026/11/28 13:15:53 #{abbr}")[:offset]]
  end,
}
$stdout.write(JSON.generate(out))
