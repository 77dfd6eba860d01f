#!/usr/bin/env node
'use strict'
/*
 * control_http.js: a test written in another language (node, kafkajs 2.2) driving kafkasim's HTTP control
 * API while kafkasim runs as a separate process. Run by compat_tests/test_control_http.py:
 *
 *   node control_http.js BOOTSTRAP CONTROL_URL [CLUSTER]
 *
 * It creates a topic over HTTP, injects a NOT_LEADER_OR_FOLLOWER error on its first Produce (kafkajs must
 * refresh its metadata and retry), produces an order with a trace-id header, and asserts over HTTP that the
 * rule fired once and that exactly one record carries that trace id; then injects a delay longer than a
 * second producer's request timeout and asserts kafkajs times the request out. It removes its rules, prints
 * one JSON line ({"topic", "trace_id", "not_leader_fired", "delay_error"}) and exits 0; any failed check
 * prints the reason on stderr and exits 1. Only node's global fetch and kafkajs are used.
 */

const crypto = require('crypto')
const { Kafka, logLevel, Partitioners } = require('kafkajs')

const [bootstrap, control, clusterArg] = process.argv.slice(2)
if (!bootstrap || !control) {
  console.error('usage: node control_http.js BOOTSTRAP CONTROL_URL [CLUSTER]')
  process.exit(2)
}

function check (ok, what) {
  if (!ok) throw new Error(`check failed: ${what}`)
}

async function api (method, path, body, expected = [200, 201]) {
  const res = await fetch(control + path, {
    method,
    headers: body === undefined ? {} : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  const answer = await res.json()
  check(expected.includes(res.status), `${method} ${path} answered ${res.status}: ${JSON.stringify(answer)}`)
  return answer
}

function innermostNames (err) {
  const names = []
  for (let e = err; e; e = e.cause || e.originalError) names.push(e.name)
  return names
}

async function main () {
  const cluster = clusterArg || (await api('GET', '/clusters')).clusters[0].name
  const c = `/clusters/${encodeURIComponent(cluster)}`
  const topic = `kafkajs-control-${crypto.randomBytes(4).toString('hex')}`
  const traceId = crypto.randomBytes(8).toString('hex')

  await api('POST', `${c}/topics`, { name: topic, partitions: 1 })
  const rule = await api('POST', `${c}/faults`, {
    action: 'error', api: 'Produce', topic, error: 'NOT_LEADER_OR_FOLLOWER', count: 1
  })
  check(rule.id > 0 && rule.fired === 0, `a new rule: ${JSON.stringify(rule)}`)

  const kafka = new Kafka({ clientId: 'kafkajs-control', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING })
  const producer = kafka.producer({
    createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 5, initialRetryTime: 50 }
  })
  await producer.connect()
  try {
    await producer.send({
      topic,
      acks: -1,
      messages: [
        { key: 'order-1', value: 'hello from kafkajs', headers: { 'trace-id': traceId }, partition: 0 },
        { key: 'order-2', value: 'untraced', partition: 0 }
      ]
    })
  } finally {
    await producer.disconnect()
  }

  const fired = (await api('GET', `${c}/faults`)).faults.find(r => r.id === rule.id).fired
  check(fired === 1, `the NOT_LEADER_OR_FOLLOWER rule fired ${fired} times (kafkajs did not retry through it?)`)
  const query = new URLSearchParams({ header: `trace-id:${traceId}` })
  const { records } = await api('GET', `${c}/topics/${topic}/records?${query}`)
  check(records.length === 1, `one record with trace-id ${traceId}, got ${JSON.stringify(records)}`)
  const [r] = records
  check(r.key === 'order-1' && r.value === 'hello from kafkajs', `the traced record: ${JSON.stringify(r)}`)
  check(r.headers.some(h => h.name === 'trace-id' && h.value === traceId), 'its trace-id header')
  const waited = await api('POST', `${c}/wait/records`, {
    topic, count: 2, partition: 0, timeout: 5
  })
  check(waited.records.map(x => x.value).join() === 'hello from kafkajs,untraced', 'both records, stored once')

  // a delay beyond the client's request timeout: kafkajs gives up, as against a slow Kafka broker
  await api('POST', `${c}/faults`, { action: 'delay', api: 'Produce', client_id: 'kafkajs-slow', delay_ms: 1500 })
  const slowKafka = new Kafka({
    clientId: 'kafkajs-slow', brokers: bootstrap.split(','), logLevel: logLevel.NOTHING, requestTimeout: 500
  })
  const slow = slowKafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, retry: { retries: 0 } })
  await slow.connect()
  let delayError = null
  try {
    await slow.send({ topic, acks: -1, messages: [{ value: 'late', partition: 0 }] })
  } catch (err) {
    const names = innermostNames(err)
    delayError = names.includes('KafkaJSRequestTimeoutError') ? 'KafkaJSRequestTimeoutError' : names.join('>')
  } finally {
    await slow.disconnect()
  }
  check(delayError === 'KafkaJSRequestTimeoutError', `the delayed Produce timed out, got ${delayError}`)

  const cleared = await api('DELETE', `${c}/faults`)
  check(cleared.removed === 2, `removed both rules: ${JSON.stringify(cleared)}`)
  console.log(JSON.stringify({ topic, trace_id: traceId, not_leader_fired: fired, delay_error: delayError }))
}

main().then(
  () => process.exit(0),
  err => {
    console.error(err && err.stack ? err.stack : String(err))
    process.exit(1)
  }
)
