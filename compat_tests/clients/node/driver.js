#!/usr/bin/env node
'use strict'
/*
 * driver.js: run ONE kafkajs operation against a broker and print ONE JSON result line to stdout.
 *
 * Used by compat_tests/clients/kafkajs.py. The command is a JSON object given as argv[2] or on stdin.
 *
 *   node driver.js '{"op":"produce","brokers":"127.0.0.1:9092","topic":"t","messages":[{"value":"v"}]}'
 *
 * Common fields (all optional except op and brokers):
 *   brokers        "host:port", "h1:p1,h2:p2" or ["h1:p1", ...]
 *   client_id      default "kafkasim-compat-kafkajs"
 *   timeout_ms     hard deadline for the whole invocation (default 20000); when it passes the driver
 *                  prints {"error": {"type": "DRIVER_TIMEOUT", ...}} and exits
 *   retries        kafkajs retry count for the client, producer and admin (default 2, so errors are quick)
 *   request_timeout_ms, connection_timeout_ms   kafkajs client settings (defaults 10000 / 3000)
 *   log_level      kafkajs log level NOTHING|ERROR|WARN|INFO|DEBUG (default WARN); logs go to stderr
 *   ssl            TLS: {"ca": PEM file, "cert": PEM file, "key": PEM file} (each optional; {} is TLS with the
 *                  system CAs), or true. The files are read here and given to kafkajs's `ssl` option.
 *   sasl           {"mechanism": "plain"|"scram-sha-256"|"scram-sha-512", "username", "password"} or
 *                  {"mechanism": "oauthbearer", "token": "<JWS>"} (kafkajs's oauthBearerProvider returns it)
 *
 * Data encoding (keys, values, header values), both directions:
 *   - a JSON string is UTF-8 text;
 *   - {"base64": "..."} is raw bytes;
 *   - null is a null key/value.
 *   Output uses a plain string when the bytes are valid UTF-8 (they re-encode to the same bytes), else
 *   {"base64": "..."}. Offsets, timestamps and watermarks are output as JSON strings, as kafkajs gives
 *   them (64-bit values do not fit a JS number). Repeated header keys come back as a list.
 *
 * Ops (kafkajs public API unless noted):
 *   api_versions                       -> {"api_versions": {"<apiKey>": {"min_version", "max_version"}}}
 *   produce   topic, messages[{key, value, headers{}, partition, timestamp}], acks (-1|0|1, default -1),
 *             compression ("none"|"gzip"|"snappy"|"lz4"|"zstd"; see "Codecs" below),
 *             produce_timeout_ms, idempotent, allow_auto_topic_creation (default true)
 *                                      -> {"records": [{topic, partition, error_code, base_offset,
 *                                           log_append_time, log_start_offset}]} (empty for acks=0),
 *                                         "codec_calls"
 *   consume_from  topic, partition (default 0), offset ("earliest"|"latest"|integer, default
 *             "earliest"), count, max_wait_ms (default 500), max_bytes, isolation_level
 *             ("read_committed" default | "read_uncommitted").
 *             NO consumer group: kafkajs's internal Cluster/Broker (require('kafkajs/src/cluster'))
 *             sends Fetch requests with kafkajs's own codec until `count` messages arrived or the
 *             deadline (timeout_ms minus a margin) passes; returns what it has.
 *                                      -> {"messages": [{topic, partition, offset, key, value, headers,
 *                                           timestamp, attributes}], "high_watermark": "N", "codec_calls"}
 *   consume_group  topic, group_id, count, from_beginning (default true), session_timeout_ms,
 *             heartbeat_interval_ms: the real kafkajs Consumer (needs the group APIs)
 *                                      -> {"messages": [...]}
 *   create_topics  topics[{topic, numPartitions, replicationFactor, configEntries[{name, value}]}],
 *             validate_only, wait_for_leaders (default true)   -> {"created": bool}
 *   delete_topics  topics[names]                             -> {}
 *   create_partitions  topic_partitions[{topic, count}]      -> {}
 *   describe_configs   resources[{type: "TOPIC"|"BROKER"|int, name, configNames?}], include_synonyms
 *                                      -> {"resources": [{resource_type, resource_name, error_code,
 *                                           error_message, configs: {name: {value, read_only,
 *                                           is_default, source, is_sensitive}}}]}
 *   alter_configs      resources[{type, name, configEntries[{name, value}]}], validate_only
 *                                      -> {"resources": [{resource_type, resource_name, error_code,
 *                                           error_message}]}
 *   fetch_topic_offsets  topic          -> {"partitions": [{partition, offset, high, low}]}
 *   fetch_topic_offsets_by_timestamp  topic, timestamp       -> {"partitions": [{partition, offset}]}
 *   list_topics                         -> {"topics": [sorted names]}
 *   fetch_metadata  topics? (default all)  -> {"brokers": [{node_id, host, port}], "controller",
 *                                           "cluster_id", "topics": [{name, partitions: [{partition,
 *                                           leader, replicas, isr, error_code}]}]}
 *
 * Codecs: kafkajs builds in only gzip; this driver registers the other three in kafkajs's
 * CompressionCodecs (so the Producer and the group-less fetch both use them), from the packages pinned
 * in package.json:
 *   snappy  kafkajs-snappy (snappyjs, pure JS; reads raw and xerial-framed snappy, writes raw)
 *   lz4     @2l/kafkajs-lz4 (lz4-napi: LZ4 frame format; prebuilt binary from an npm package)
 *   zstd    @bokuweb/zstd-wasm (zstd compiled to WebAssembly), adapted here: no maintained kafkajs zstd
 *           package installs (@kafkajs/zstd needs cppzst 2.0.6, a node-gyp build that fails on Node 20)
 * A codec package is loaded on first use; one that fails to load fails only the ops that need that codec,
 * with a KafkaJSNotImplemented error naming the package. "codec_calls" in the produce and consume_from
 * results counts what each codec did during the op, {"<codec>": {"compress": n, "decompress": n}}, so a
 * caller can tell that a batch really went through the codec it asked for.
 *
 * Errors: a kafkajs error is printed as {"error": {"type", "code", "name", "message", "retriable",
 * "chain"}} with exit status 0, so callers can assert on Kafka error types. kafkajs wraps protocol
 * errors (KafkaJSNumberOfRetriesExceeded, KafkaJSNonRetriableError, KafkaJSAggregateError); `type`
 * and `code` come from the innermost error that has them (e.g. "MESSAGE_TOO_LARGE", 10), `name` is
 * that error's class, `chain` lists the class names outermost first. An error without a Kafka type
 * gets the innermost error's class name as type (e.g. "KafkaJSNotImplemented", "KafkaJSConnectionError").
 * A malformed command exits with status 2 and a message on stderr.
 */

const {
  Kafka,
  logLevel: LEVELS,
  CompressionTypes,
  CompressionCodecs,
  ConfigResourceTypes,
  Partitioners,
} = require('kafkajs')
// kafkajs internals, for group-less reading (consume_from, api_versions): the same classes the
// Producer, Consumer and Admin are built on.
const Cluster = require('kafkajs/src/cluster')
const Batch = require('kafkajs/src/consumer/batch')
const ISOLATION = require('kafkajs/src/protocol/isolationLevel')
const { createLogger } = require('kafkajs/src/loggers')
const socketFactory = require('kafkajs/src/network/socketFactory')
const { KafkaJSNotImplemented } = require('kafkajs/src/errors')

const DEFAULT_TIMEOUT_MS = 20000
const CLIENT_ID = 'kafkasim-compat-kafkajs'

class UsageError extends Error {}

// ---- data encoding ------------------------------------------------------------------------------

function toBuffer(v, what) {
  if (v === null || v === undefined) return null
  if (typeof v === 'string') return Buffer.from(v, 'utf8')
  if (typeof v === 'object' && typeof v.base64 === 'string') return Buffer.from(v.base64, 'base64')
  throw new UsageError(`${what} must be a string, {"base64": ...} or null, got ${JSON.stringify(v)}`)
}

function fromBuffer(b) {
  if (b === null || b === undefined) return null
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b)
  const text = buf.toString('utf8')
  return Buffer.from(text, 'utf8').equals(buf) ? text : { base64: buf.toString('base64') }
}

function headersIn(h) {
  if (h === null || h === undefined) return undefined
  const out = {}
  for (const [k, v] of Object.entries(h)) {
    out[k] = Array.isArray(v) ? v.map(x => toBuffer(x, `header ${k}`)) : toBuffer(v, `header ${k}`)
  }
  return out
}

function headersOut(h) {
  const out = {}
  for (const [k, v] of Object.entries(h || {})) {
    out[k] = Array.isArray(v) ? v.map(fromBuffer) : fromBuffer(v)
  }
  return out
}

function messageOut(topic, partition, m) {
  return {
    topic,
    partition,
    offset: String(m.offset),
    key: fromBuffer(m.key),
    value: fromBuffer(m.value),
    headers: headersOut(m.headers),
    timestamp: String(m.timestamp),
    attributes: m.attributes,
  }
}

// ---- codecs -------------------------------------------------------------------------------------

// Zstandard for kafkajs on top of @bokuweb/zstd-wasm. Its decompress sizes the output from the frame
// header; a frame that does not record its content size (streaming producers such as Java's) gets a
// 1 MiB buffer, so grow that until the records fit, up to the bound kafkasim itself uses.
const ZSTD_MAX_DECOMPRESSED = 64 * 1024 * 1024
const ZSTD_DST_TOO_SMALL = /code -70\b/ // ZSTD_error_dstSize_tooSmall

function zstdCodec() {
  const zstd = require('@bokuweb/zstd-wasm')
  let ready = null
  const init = () => (ready = ready || zstd.init())
  const toBuffer = u8 => Buffer.from(u8.buffer, u8.byteOffset, u8.byteLength)
  return {
    async compress(encoder) {
      await init()
      return toBuffer(zstd.compress(encoder.buffer, 3))
    },
    async decompress(buffer) {
      await init()
      let heap = Math.max(1024 * 1024, 4 * buffer.length)
      for (;;) {
        try {
          return toBuffer(zstd.decompress(buffer, { defaultHeapSize: heap }))
        } catch (e) {
          if (heap >= ZSTD_MAX_DECOMPRESSED || !ZSTD_DST_TOO_SMALL.test(String(e.message))) throw e
          heap = Math.min(ZSTD_MAX_DECOMPRESSED, heap * 2)
        }
      }
    },
  }
}

const CODEC_LOADERS = {
  snappy: { type: CompressionTypes.Snappy, pkg: 'kafkajs-snappy', load: () => require('kafkajs-snappy')() },
  lz4: { type: CompressionTypes.LZ4, pkg: '@2l/kafkajs-lz4', load: () => new (require('@2l/kafkajs-lz4'))().codec() },
  zstd: { type: CompressionTypes.ZSTD, pkg: '@bokuweb/zstd-wasm', load: zstdCodec },
}

const codecCalls = {}

function counted(name, codec) {
  const count = what => {
    const c = (codecCalls[name] = codecCalls[name] || { compress: 0, decompress: 0 })
    c[what] += 1
  }
  return {
    async compress(encoder) {
      count('compress')
      return codec.compress(encoder)
    },
    async decompress(buffer) {
      count('decompress')
      return codec.decompress(buffer)
    },
  }
}

function registerCodecs() {
  const builtinGzip = CompressionCodecs[CompressionTypes.GZIP]
  let gzip = null
  CompressionCodecs[CompressionTypes.GZIP] = () => (gzip = gzip || counted('gzip', builtinGzip()))
  for (const [name, { type, pkg, load }] of Object.entries(CODEC_LOADERS)) {
    let codec = null
    CompressionCodecs[type] = () => {
      if (codec === null) {
        try {
          codec = counted(name, load())
        } catch (e) {
          throw new KafkaJSNotImplemented(`${name} codec package ${pkg} failed to load (run scripts/install_test_deps): ${e.message}`)
        }
      }
      return codec
    }
  }
}

registerCodecs()

// ---- errors -------------------------------------------------------------------------------------

function errorOut(e) {
  // Follow the wrapping chain outermost -> innermost: retry wrappers keep the original error in
  // `cause` (or `originalError`), KafkaJSAggregateError keeps a list in `errors` (take the first).
  const chain = []
  let typed = null
  let innermost = null
  const seen = new Set()
  let err = e
  while (err && typeof err === 'object' && !seen.has(err)) {
    seen.add(err)
    innermost = err
    chain.push(err.name || (err.constructor && err.constructor.name) || 'Error')
    if (err.type) typed = err
    if (Array.isArray(err.errors) && err.errors.length) err = err.errors[0]
    else err = err.cause || err.originalError
  }
  // Without a Kafka error type, the innermost error names the problem best (e.g. KafkaJSConnectionError
  // inside KafkaJSNumberOfRetriesExceeded).
  const source = typed || innermost || e
  return {
    error: {
      type: source.type || source.name || 'Error',
      code: source.code === undefined ? null : source.code,
      name: source.name || 'Error',
      message: String(source.message || e.message || e),
      retriable: source.retriable === undefined ? null : source.retriable,
      chain,
    },
  }
}

// ---- helpers ------------------------------------------------------------------------------------

function brokersOf(cmd) {
  const b = cmd.brokers
  if (Array.isArray(b) && b.length) return b
  if (typeof b === 'string' && b) return b.split(',').map(s => s.trim()).filter(Boolean)
  throw new UsageError('"brokers" is required')
}

function required(cmd, name) {
  if (cmd[name] === undefined || cmd[name] === null) throw new UsageError(`"${name}" is required`)
  return cmd[name]
}

function stderrLogCreator() {
  return ({ namespace, label, log }) => {
    const { message, timestamp, logger, ...extra } = log
    process.stderr.write(
      `[kafkajs ${label} ${namespace}] ${message} ${JSON.stringify(extra)}\n`
    )
  }
}

function retryOf(cmd) {
  return {
    retries: cmd.retries === undefined ? 2 : cmd.retries,
    initialRetryTime: 100,
    maxRetryTime: 1000,
  }
}

// kafkajs's `ssl` and `sasl` client options from the command's `ssl` and `sasl` fields
function securityOf(cmd) {
  const out = {}
  if (cmd.ssl) {
    const fs = require('fs')
    const ssl = {}
    for (const name of ['ca', 'cert', 'key']) {
      if (cmd.ssl[name]) ssl[name] = fs.readFileSync(cmd.ssl[name], 'utf8')
    }
    out.ssl = Object.keys(ssl).length ? ssl : true
  }
  if (cmd.sasl) {
    const mechanism = String(required(cmd.sasl, 'mechanism')).toLowerCase()
    if (mechanism === 'oauthbearer') {
      const token = required(cmd.sasl, 'token')
      out.sasl = { mechanism, oauthBearerProvider: async () => ({ value: token }) }
    } else {
      out.sasl = { mechanism, username: cmd.sasl.username, password: cmd.sasl.password }
    }
  }
  return out
}

function makeKafka(cmd) {
  const level = String(cmd.log_level || 'WARN').toUpperCase()
  if (LEVELS[level] === undefined) throw new UsageError(`unknown log_level ${cmd.log_level}`)
  return new Kafka({
    ...securityOf(cmd),
    clientId: cmd.client_id || CLIENT_ID,
    brokers: brokersOf(cmd),
    connectionTimeout: cmd.connection_timeout_ms || 3000,
    requestTimeout: cmd.request_timeout_ms || 10000,
    retry: retryOf(cmd),
    logLevel: LEVELS[level],
    logCreator: stderrLogCreator,
  })
}

const COMPRESSION = {
  none: CompressionTypes.None,
  gzip: CompressionTypes.GZIP,
  snappy: CompressionTypes.Snappy,
  lz4: CompressionTypes.LZ4,
  zstd: CompressionTypes.ZSTD,
}

function resourceType(t) {
  if (typeof t === 'number') return t
  const v = ConfigResourceTypes[String(t).toUpperCase()]
  if (v === undefined) throw new UsageError(`unknown resource type ${t}`)
  return v
}

// Every op gets `resources`, a list of things to disconnect whatever happens.
async function withAdmin(kafka, cmd, resources, fn) {
  const admin = kafka.admin({ retry: retryOf(cmd) })
  resources.push(admin)
  await admin.connect()
  return await fn(admin)
}

// ---- ops ----------------------------------------------------------------------------------------

const OPS = {
  async api_versions(cmd, kafka, resources) {
    const cluster = makeCluster(cmd)
    resources.push(cluster)
    await cluster.connect()
    const versions = cluster.brokerPool.versions
    const out = {}
    for (const [k, v] of Object.entries(versions)) {
      out[k] = { min_version: v.minVersion, max_version: v.maxVersion }
    }
    return { api_versions: out }
  },

  async produce(cmd, kafka, resources) {
    const topic = required(cmd, 'topic')
    const messages = required(cmd, 'messages').map((m, i) => {
      const out = { key: toBuffer(m.key, `messages[${i}].key`), value: toBuffer(m.value, `messages[${i}].value`) }
      if (m.headers !== undefined) out.headers = headersIn(m.headers)
      if (m.partition !== undefined && m.partition !== null) out.partition = m.partition
      if (m.timestamp !== undefined && m.timestamp !== null) out.timestamp = String(m.timestamp)
      return out
    })
    const compression = COMPRESSION[String(cmd.compression || 'none').toLowerCase()]
    if (compression === undefined) throw new UsageError(`unknown compression ${cmd.compression}`)
    const producer = kafka.producer({
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: cmd.allow_auto_topic_creation === undefined ? true : !!cmd.allow_auto_topic_creation,
      idempotent: !!cmd.idempotent,
      retry: retryOf(cmd),
      ...(cmd.idempotent ? { maxInFlightRequests: 1 } : {}),
    })
    resources.push(producer)
    await producer.connect()
    const acks = cmd.acks === undefined ? -1 : cmd.acks
    const records = await producer.send({
      topic,
      messages,
      acks,
      compression,
      timeout: cmd.produce_timeout_ms || 5000,
    })
    return {
      records: (records || []).map(r => ({
        topic: r.topicName,
        partition: r.partition,
        error_code: r.errorCode,
        base_offset: r.baseOffset === undefined ? null : String(r.baseOffset),
        log_append_time: r.logAppendTime === undefined ? null : String(r.logAppendTime),
        log_start_offset: r.logStartOffset === undefined ? null : String(r.logStartOffset),
      })),
      codec_calls: codecCalls,
    }
  },

  async consume_from(cmd, kafka, resources, deadline) {
    const topic = required(cmd, 'topic')
    const partition = cmd.partition === undefined ? 0 : cmd.partition
    const count = required(cmd, 'count')
    const maxWait = cmd.max_wait_ms === undefined ? 500 : cmd.max_wait_ms
    const isolationLevel =
      (cmd.isolation_level || 'read_committed') === 'read_committed'
        ? ISOLATION.READ_COMMITTED
        : ISOLATION.READ_UNCOMMITTED
    const cluster = makeCluster(cmd, { isolationLevel })
    resources.push(cluster)
    await cluster.connect()
    await cluster.addTargetTopic(topic)
    await cluster.refreshMetadata()

    let offset = cmd.offset === undefined ? 'earliest' : cmd.offset
    if (offset === 'earliest' || offset === 'latest') {
      const [{ partitions }] = await cluster.fetchTopicsOffset([
        { topic, fromBeginning: offset === 'earliest', partitions: [{ partition }] },
      ])
      offset = partitions[0].offset
    }
    offset = BigInt(offset)

    const out = []
    let highWatermark = null
    // Stop early enough to print a result before the hard deadline fires.
    const softDeadline = deadline - Math.max(maxWait + 500, 1000)
    while (out.length < count && Date.now() < softDeadline) {
      const started = Date.now()
      const before = offset
      const leaders = cluster.findLeaderForPartitions(topic, [partition])
      const nodeId = Object.keys(leaders)[0]
      if (nodeId === undefined) throw new Error(`no leader known for ${topic}/${partition}`)
      const broker = await cluster.findBroker({ nodeId })
      const response = await broker.fetch({
        isolationLevel,
        maxWaitTime: maxWait,
        minBytes: 1,
        maxBytes: cmd.max_bytes || 10485760,
        topics: [{ topic, partitions: [{ partition, fetchOffset: offset.toString(), maxBytes: cmd.max_bytes || 1048576 }] }],
      })
      for (const t of response.responses) {
        for (const p of t.partitions) {
          if (p.partition !== partition) continue
          highWatermark = p.highWatermark
          // The same filtering the kafkajs Consumer does (consumer/batch.js): skip control records
          // and records before the requested offset (a compressed batch starts earlier).
          const batch = new Batch(topic, offset.toString(), p)
          for (const m of batch.messages) {
            if (out.length < count) out.push(messageOut(topic, partition, m))
          }
          const last = batch.isEmptyIncludingFiltered() ? null : batch.lastOffset()
          if (last !== null) offset = BigInt(last) + 1n
        }
      }
      // A broker that answers an empty fetch at once (ignoring max wait) would make this spin.
      const idle = maxWait - (Date.now() - started)
      if (offset === before && idle > 0) await new Promise(resolve => setTimeout(resolve, Math.min(idle, 100)))
    }
    return {
      messages: out,
      high_watermark: highWatermark === null ? null : String(highWatermark),
      codec_calls: codecCalls,
    }
  },

  async consume_group(cmd, kafka, resources, deadline) {
    const topic = required(cmd, 'topic')
    const groupId = required(cmd, 'group_id')
    const count = required(cmd, 'count')
    const consumer = kafka.consumer({
      groupId,
      sessionTimeout: cmd.session_timeout_ms || 10000,
      rebalanceTimeout: cmd.rebalance_timeout_ms || 10000,
      heartbeatInterval: cmd.heartbeat_interval_ms || 1000,
      maxWaitTimeInMs: cmd.max_wait_ms === undefined ? 500 : cmd.max_wait_ms,
      retry: retryOf(cmd),
    })
    resources.push(consumer)
    await consumer.connect()
    await consumer.subscribe({ topics: [topic], fromBeginning: cmd.from_beginning === undefined ? true : !!cmd.from_beginning })
    const out = []
    let crashed = null
    consumer.on(consumer.events.CRASH, e => {
      crashed = e.payload.error
    })
    await consumer.run({
      eachMessage: async ({ topic: t, partition, message }) => {
        if (out.length < count) out.push(messageOut(t, partition, message))
      },
    })
    const softDeadline = deadline - 2000
    while (out.length < count && crashed === null && Date.now() < softDeadline) {
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    if (crashed !== null) throw crashed
    return { messages: out }
  },

  async create_topics(cmd, kafka, resources) {
    const topics = required(cmd, 'topics')
    return withAdmin(kafka, cmd, resources, async admin => ({
      created: await admin.createTopics({
        topics,
        validateOnly: !!cmd.validate_only,
        waitForLeaders: cmd.wait_for_leaders === undefined ? true : !!cmd.wait_for_leaders,
        timeout: cmd.admin_timeout_ms || 5000,
      }),
    }))
  },

  async delete_topics(cmd, kafka, resources) {
    const topics = required(cmd, 'topics')
    return withAdmin(kafka, cmd, resources, async admin => {
      await admin.deleteTopics({ topics, timeout: cmd.admin_timeout_ms || 5000 })
      return {}
    })
  },

  async create_partitions(cmd, kafka, resources) {
    const topicPartitions = required(cmd, 'topic_partitions')
    return withAdmin(kafka, cmd, resources, async admin => {
      await admin.createPartitions({
        topicPartitions,
        validateOnly: !!cmd.validate_only,
        timeout: cmd.admin_timeout_ms || 5000,
      })
      return {}
    })
  },

  async describe_configs(cmd, kafka, resources) {
    const res = required(cmd, 'resources').map(r => ({ ...r, type: resourceType(r.type) }))
    return withAdmin(kafka, cmd, resources, async admin => {
      const { resources: described } = await admin.describeConfigs({
        resources: res,
        includeSynonyms: !!cmd.include_synonyms,
      })
      return {
        resources: described.map(r => ({
          resource_type: r.resourceType,
          resource_name: r.resourceName,
          error_code: r.errorCode,
          error_message: r.errorMessage,
          configs: Object.fromEntries(
            (r.configEntries || []).map(c => [
              c.configName,
              {
                value: c.configValue,
                read_only: c.readOnly,
                is_default: c.isDefault,
                source: c.configSource === undefined ? null : c.configSource,
                is_sensitive: c.isSensitive,
              },
            ])
          ),
        })),
      }
    })
  },

  async alter_configs(cmd, kafka, resources) {
    const res = required(cmd, 'resources').map(r => ({ ...r, type: resourceType(r.type) }))
    return withAdmin(kafka, cmd, resources, async admin => {
      const { resources: altered } = await admin.alterConfigs({
        resources: res,
        validateOnly: !!cmd.validate_only,
      })
      return {
        resources: altered.map(r => ({
          resource_type: r.resourceType,
          resource_name: r.resourceName,
          error_code: r.errorCode,
          error_message: r.errorMessage,
        })),
      }
    })
  },

  async fetch_topic_offsets(cmd, kafka, resources) {
    const topic = required(cmd, 'topic')
    return withAdmin(kafka, cmd, resources, async admin => ({
      partitions: (await admin.fetchTopicOffsets(topic))
        .map(p => ({ partition: p.partition, offset: String(p.offset), high: String(p.high), low: String(p.low) }))
        .sort((a, b) => a.partition - b.partition),
    }))
  },

  async fetch_topic_offsets_by_timestamp(cmd, kafka, resources) {
    const topic = required(cmd, 'topic')
    const timestamp = cmd.timestamp === undefined ? undefined : Number(cmd.timestamp)
    return withAdmin(kafka, cmd, resources, async admin => ({
      partitions: (await admin.fetchTopicOffsetsByTimestamp(topic, timestamp))
        .map(p => ({ partition: p.partition, offset: String(p.offset) }))
        .sort((a, b) => a.partition - b.partition),
    }))
  },

  async list_topics(cmd, kafka, resources) {
    return withAdmin(kafka, cmd, resources, async admin => ({
      topics: (await admin.listTopics()).sort(),
    }))
  },

  async fetch_metadata(cmd, kafka, resources) {
    return withAdmin(kafka, cmd, resources, async admin => {
      const clusterInfo = await admin.describeCluster()
      const { topics } = await admin.fetchTopicMetadata({ topics: cmd.topics || [] })
      return {
        brokers: clusterInfo.brokers
          .map(b => ({ node_id: b.nodeId, host: b.host, port: b.port }))
          .sort((a, b) => a.node_id - b.node_id),
        controller: clusterInfo.controller,
        cluster_id: clusterInfo.clusterId,
        topics: topics
          .map(t => ({
            name: t.name,
            partitions: t.partitions
              .map(p => ({
                partition: p.partitionId,
                leader: p.leader,
                replicas: p.replicas,
                isr: p.isr,
                error_code: p.partitionErrorCode,
              }))
              .sort((a, b) => a.partition - b.partition),
          }))
          .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
      }
    })
  },
}

// kafkajs's internal Cluster (what Producer/Consumer/Admin are built on), for group-less fetching.
function makeCluster(cmd, { isolationLevel } = {}) {
  const level = String(cmd.log_level || 'WARN').toUpperCase()
  const cluster = new Cluster({
    ...securityOf(cmd),
    logger: createLogger({ level: LEVELS[level], logCreator: stderrLogCreator }),
    socketFactory: socketFactory(),
    brokers: brokersOf(cmd),
    clientId: cmd.client_id || CLIENT_ID,
    connectionTimeout: cmd.connection_timeout_ms || 3000,
    requestTimeout: cmd.request_timeout_ms || 10000,
    enforceRequestTimeout: true,
    metadataMaxAge: 300000,
    retry: retryOf(cmd),
    allowAutoTopicCreation: false,
    isolationLevel,
  })
  return cluster
}

// ---- main ---------------------------------------------------------------------------------------

function readCommand() {
  if (process.argv.length > 2) return Promise.resolve(process.argv[2])
  return new Promise((resolve, reject) => {
    const chunks = []
    process.stdin.on('data', c => chunks.push(c))
    process.stdin.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')))
    process.stdin.on('error', reject)
  })
}

function finish(result, status) {
  process.stdout.write(JSON.stringify(result) + '\n', () => process.exit(status))
}

async function main() {
  let cmd
  try {
    cmd = JSON.parse(await readCommand())
  } catch (e) {
    process.stderr.write(`driver.js: command is not valid JSON: ${e.message}\n`)
    process.exit(2)
  }
  const op = OPS[cmd && cmd.op]
  if (!op) {
    process.stderr.write(`driver.js: unknown op ${JSON.stringify(cmd && cmd.op)}; ops: ${Object.keys(OPS).join(', ')}\n`)
    process.exit(2)
  }
  const timeoutMs = cmd.timeout_ms || DEFAULT_TIMEOUT_MS
  const deadline = Date.now() + timeoutMs
  const watchdog = setTimeout(() => {
    finish({ error: { type: 'DRIVER_TIMEOUT', code: null, name: 'DriverTimeout', message: `op ${cmd.op} did not finish within ${timeoutMs} ms`, retriable: null, chain: [] } }, 0)
  }, timeoutMs)

  const resources = []
  let result
  try {
    const kafka = makeKafka(cmd)
    result = await op(cmd, kafka, resources, deadline)
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`driver.js: ${e.message}\n`)
      process.exit(2)
    }
    result = errorOut(e)
  }
  // Disconnect, bounded: a hung disconnect must not hold the result back.
  await Promise.race([
    Promise.allSettled(resources.reverse().map(r => r.disconnect())),
    new Promise(resolve => setTimeout(resolve, 2000)),
  ])
  clearTimeout(watchdog)
  finish(result, 0)
}

main()
