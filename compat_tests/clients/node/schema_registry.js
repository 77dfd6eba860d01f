#!/usr/bin/env node
'use strict'
/*
 * schema_registry.js: kafkajs with @kafkajs/confluent-schema-registry against kafkasim's brokers and schema
 * registry. Run by compat_tests/test_schema_registry.py:
 *
 *   node schema_registry.js BOOTSTRAP REGISTRY_URL TOPIC
 *
 * It registers an Avro schema under TOPIC-value, encodes three events with it, produces them with kafkajs,
 * consumes them back and decodes them, then registers an incompatible schema (which must be refused with
 * HTTP 409). It prints one JSON line ({"id", "decoded", "incompatible_status"}) and exits 0; a failed check
 * prints the reason on stderr and exits 1.
 */

const { Kafka, logLevel, Partitioners } = require('kafkajs')
const { SchemaRegistry, SchemaType } = require('@kafkajs/confluent-schema-registry')

const [bootstrap, registryUrl, topic] = process.argv.slice(2)
if (!bootstrap || !registryUrl || !topic) {
  console.error('usage: node schema_registry.js BOOTSTRAP REGISTRY_URL TOPIC')
  process.exit(2)
}

const schema = {
  type: 'record',
  name: 'Click',
  namespace: 'events',
  fields: [{ name: 'user', type: 'string' }, { name: 'at', type: 'long' }]
}
const incompatible = { ...schema, fields: [...schema.fields, { name: 'page', type: 'string' }] }

async function main () {
  const registry = new SchemaRegistry({ host: registryUrl })
  const { id } = await registry.register(
    { type: SchemaType.AVRO, schema: JSON.stringify(schema) }, { subject: `${topic}-value` })
  const events = [1, 2, 3].map(i => ({ user: `u${i}`, at: 1000 + i }))
  const kafka = new Kafka({ clientId: 'sr-js', brokers: [bootstrap], logLevel: logLevel.NOTHING })
  const producer = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner })
  await producer.connect()
  const messages = await Promise.all(events.map(async e => ({ value: await registry.encode(id, e) })))
  await producer.send({ topic, messages })
  await producer.disconnect()

  const consumer = kafka.consumer({ groupId: `sr-js-${topic}` })
  await consumer.connect()
  await consumer.subscribe({ topic, fromBeginning: true })
  const decoded = []
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('timed out consuming')), 20000)
    consumer.run({
      eachMessage: async ({ message }) => {
        decoded.push(await registry.decode(message.value))
        if (decoded.length === events.length) { clearTimeout(timer); resolve() }
      }
    }).catch(reject)
  })
  await consumer.disconnect()

  let incompatibleStatus = null
  try {
    await registry.register(
      { type: SchemaType.AVRO, schema: JSON.stringify(incompatible) }, { subject: `${topic}-value` })
  } catch (err) {
    incompatibleStatus = err.status || (err.originalError && err.originalError.status) || String(err)
  }
  console.log(JSON.stringify({ id, decoded, incompatible_status: incompatibleStatus }))
}

main().catch(err => { console.error(err && err.stack ? err.stack : String(err)); process.exit(1) })
