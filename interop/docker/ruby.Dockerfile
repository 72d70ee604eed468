# The Ruby resque peer (interop/ruby/peer.rb; scheduler.rb and activejob.rb run in the same
# image with another command), with exact gem versions:
#   resque 2.7.0 + resque-scheduler 4.11.0 (the defaults), or
#   --build-arg RESQUE_VERSION=3.0.0 --build-arg SCHEDULER_VERSION=5.0.0 --build-arg ACTIVEJOB_VERSION=
#   docker build -f interop/docker/ruby.Dockerfile -t pyresque-interop-ruby interop
#   docker run -i --rm -e REDIS_URL=redis://redis:6379/0 pyresque-interop-ruby
# The full (not slim) image: oj and json build native extensions with its compiler.
FROM ruby:3.3.6-bookworm

ARG RESQUE_VERSION=2.7.0
ARG SCHEDULER_VERSION=4.11.0
# Empty: no ActiveJob (resque 3.0's own adapter needs Rails >= 7.2; its tests then skip).
ARG ACTIVEJOB_VERSION=6.1.7.10

# The gems the peer requires, pinned; resque's other runtime dependencies (sinatra,
# mono_logger, rufus-scheduler ...) resolve from these gems' own constraints.
RUN gem install --no-document \
      "resque:${RESQUE_VERSION}" "resque-scheduler:${SCHEDULER_VERSION}" \
      redis:4.8.1 redis-namespace:1.11.0 multi_json:1.15.0 json:2.7.2 oj:3.16.3 \
    && if [ -n "${ACTIVEJOB_VERSION}" ]; then \
         gem install --no-document "activejob:${ACTIVEJOB_VERSION}"; \
       fi \
    && ruby -e 'require "resque"; require "resque-scheduler"; puts Resque::VERSION'

ENV TZ=UTC
WORKDIR /interop/ruby
COPY ruby/ ./

RUN groupadd --gid 10001 peer && useradd --create-home --uid 10001 --gid 10001 peer
USER 10001:10001
CMD ["ruby", "peer.rb"]
