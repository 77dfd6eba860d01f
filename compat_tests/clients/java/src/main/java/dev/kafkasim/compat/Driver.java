package dev.kafkasim.compat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Pattern;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.CreateTopicsOptions;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.ListTopicsOptions;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.consumer.OffsetAndTimestamp;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.ApiException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.apache.kafka.common.utils.internals.AppInfoParser;
import org.apache.kafka.streams.KafkaStreams;

/**
 * The Java client driver: reads one JSON command per line on stdin, runs it with the real Apache Kafka
 * clients, and writes one JSON line per command on stdout: {"id": N, "result": {...}} or
 * {"id": N, "error": {"type", "code", "class", "message", "chain"}}. The first line it writes is
 * {"ready": true, "kafka_clients": "<version>"}. Commands run one at a time, in order.
 *
 * Clients live between commands as handles ("p1", "c2", "a3"): "producer", "consumer" and "admin" make
 * one from a config (Kafka's own config names; the Python side adds bootstrap.servers), the other ops name
 * it in "handle", "close" closes one and "close_all" closes every one (each test's teardown).
 *
 * Data: a key, value or header value is a JSON string (UTF-8 text), {"base64": "..."} (raw bytes) or null;
 * output uses a string when the bytes are valid UTF-8, else {"base64": ...}. Headers are [[name, value],
 * ...] in order. Partitions are {"topic", "partition"}; offsets lists add "offset" (and "metadata").
 *
 * Errors: the type and code are those of the first ApiException in the cause chain (Errors.forException),
 * so a test can assert on Kafka's error names (e.g. "INVALID_PARTITIONS"); "chain" lists the classes,
 * outermost first.
 *
 * The op list is the switch in run(); compat_tests/clients/java.py documents each op's fields.
 */
public final class Driver {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static final JsonNodeFactory NODES = JsonNodeFactory.instance;

    private final Map<String, AutoCloseable> handles = new LinkedHashMap<>();
    private final Map<String, ArrayNode> rebalances = new HashMap<>();
    private int nextHandle = 1;

    public static void main(String[] args) throws Exception {
        // Anything a library prints to System.out would corrupt the protocol: keep stdout for replies only.
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        System.setOut(System.err);
        Driver driver = new Driver();
        ObjectNode ready = NODES.objectNode();
        ready.put("ready", true);
        ready.put("kafka_clients", AppInfoParser.getVersion());
        out.println(JSON.writeValueAsString(ready));
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) {
                continue;
            }
            ObjectNode reply = NODES.objectNode();
            JsonNode cmd = null;
            try {
                cmd = JSON.readTree(line);
                reply.set("id", cmd.get("id"));
                reply.set("result", driver.run(cmd));
            } catch (Throwable t) {
                reply.set("error", describe(t));
            }
            out.println(JSON.writeValueAsString(reply));
            if (cmd != null && "exit".equals(cmd.path("op").asText())) {
                break;
            }
        }
        driver.closeAll();
        out.flush();
        System.exit(0);
    }

    private JsonNode run(JsonNode c) throws Exception {
        String op = c.path("op").asText();
        switch (op) {
            case "ping": return obj().put("kafka_clients", AppInfoParser.getVersion());
            case "exit":
            case "close_all": return obj().put("closed", closeAll());
            case "close": return close(c);
            // producer
            case "producer": return register("p", new KafkaProducer<>(props(c), new ByteArraySerializer(), new ByteArraySerializer()));
            case "send": return send(c);
            case "flush": producer(c).flush(); return obj();
            case "init_transactions": producer(c).initTransactions(); return obj();
            case "begin_transaction": producer(c).beginTransaction(); return obj();
            case "commit_transaction": producer(c).commitTransaction(); return obj();
            case "abort_transaction": producer(c).abortTransaction(); return obj();
            case "send_offsets_to_transaction": return sendOffsetsToTransaction(c);
            // consumer
            case "consumer": return register("c", new KafkaConsumer<>(props(c), new ByteArrayDeserializer(), new ByteArrayDeserializer()));
            case "subscribe": return subscribe(c);
            case "assign": consumer(c).assign(partitions(c.path("partitions"))); return obj();
            case "seek": consumer(c).seek(new TopicPartition(c.path("topic").asText(), c.path("partition").asInt()), c.path("offset").asLong()); return obj();
            case "seek_to_beginning": consumer(c).seekToBeginning(partitions(c.path("partitions"))); return obj();
            case "seek_to_end": consumer(c).seekToEnd(partitions(c.path("partitions"))); return obj();
            case "position": return obj().put("offset", consumer(c).position(new TopicPartition(c.path("topic").asText(), c.path("partition").asInt()), timeout(c)));
            case "poll": return poll(c);
            case "commit": return commit(c);
            case "committed": return committed(c);
            case "assignment": return obj().set("partitions", tps(consumer(c).assignment()));
            case "offsets_for_times": return offsetsForTimes(c);
            case "beginning_offsets": return offsetsMap(consumer(c).beginningOffsets(partitions(c.path("partitions")), timeout(c)));
            case "end_offsets": return offsetsMap(consumer(c).endOffsets(partitions(c.path("partitions")), timeout(c)));
            case "rebalance_events": return obj().set("events", rebalances.getOrDefault(c.path("handle").asText(), arr()));
            case "group_metadata": return obj().put("generation_id", consumer(c).groupMetadata().generationId()).put("member_id", consumer(c).groupMetadata().memberId());
            // admin
            case "admin": return register("a", Admin.create(props(c)));
            case "create_topics": return createTopics(c);
            case "delete_topics": admin(c).deleteTopics(strings(c.path("topics"))).all().get(timeoutMs(c), TimeUnit.MILLISECONDS); return obj();
            case "list_topics": return listTopics(c);
            case "describe_topics": return describeTopics(c);
            case "create_partitions": return createPartitions(c);
            case "describe_configs": return describeConfigs(c);
            case "incremental_alter_configs": return alterConfigs(c);
            case "describe_cluster": return describeCluster(c);
            case "list_groups": return listGroups(c);
            case "describe_groups": return describeGroups(c);
            case "list_group_offsets": return listGroupOffsets(c);
            case "alter_group_offsets": admin(c).alterConsumerGroupOffsets(c.path("group_id").asText(), offsets(c.path("offsets"))).all().get(timeoutMs(c), TimeUnit.MILLISECONDS); return obj();
            case "delete_groups": admin(c).deleteConsumerGroups(strings(c.path("groups"))).all().get(timeoutMs(c), TimeUnit.MILLISECONDS); return obj();
            case "delete_records": return deleteRecords(c);
            case "delete_group_offsets": admin(c).deleteConsumerGroupOffsets(c.path("group_id").asText(), new java.util.HashSet<>(partitions(c.path("partitions")))).all().get(timeoutMs(c), TimeUnit.MILLISECONDS); return obj();
            case "list_transactions": return listTransactions(c);
            case "describe_transactions": return describeTransactions(c);
            case "describe_producers": return describeProducers(c);
            case "list_offsets": return listOffsets(c);
            // Kafka Streams
            case "streams_router": return startStreams(c, Topologies.router(c));
            case "streams_count": return startStreams(c, Topologies.count(c));
            case "streams_state": return obj().put("state", streams(c).state().name());
            case "streams_close": return closeStreams(c);
            default: throw new IllegalArgumentException("unknown op " + op);
        }
    }

    // ---------------------------------------------------------------------------------------- handles

    private JsonNode register(String prefix, AutoCloseable client) {
        String id = prefix + nextHandle++;
        handles.put(id, client);
        return obj().put("handle", id);
    }

    private Object handle(JsonNode c) {
        String id = c.path("handle").asText();
        Object h = handles.get(id);
        if (h == null) {
            throw new IllegalArgumentException("no handle " + id);
        }
        return h;
    }

    @SuppressWarnings("unchecked")
    private KafkaProducer<byte[], byte[]> producer(JsonNode c) { return (KafkaProducer<byte[], byte[]>) handle(c); }

    @SuppressWarnings("unchecked")
    private KafkaConsumer<byte[], byte[]> consumer(JsonNode c) { return (KafkaConsumer<byte[], byte[]>) handle(c); }

    private Admin admin(JsonNode c) { return (Admin) handle(c); }

    private KafkaStreams streams(JsonNode c) { return (KafkaStreams) handle(c); }

    /** Close a Streams app; "leave_group" (default true) sends LeaveGroup, so its partitions move at once
     * rather than after its session timeout (Streams by default stays in the group on close). */
    private JsonNode closeStreams(JsonNode c) {
        KafkaStreams app = (KafkaStreams) handles.remove(c.path("handle").asText());
        if (app == null) {
            throw new IllegalArgumentException("no handle " + c.path("handle").asText());
        }
        var op = c.path("leave_group").asBoolean(true) ? org.apache.kafka.streams.CloseOptions.GroupMembershipOperation.LEAVE_GROUP
                : org.apache.kafka.streams.CloseOptions.GroupMembershipOperation.REMAIN_IN_GROUP;
        boolean closed = app.close(org.apache.kafka.streams.CloseOptions.groupMembershipOperation(op).withTimeout(timeout(c)));
        return obj().put("closed", closed).put("state", app.state().name());
    }

    /** Start a Streams app and wait (until timeout_ms) for it to be RUNNING; an app that fails or does not
     * get there is closed and reported as an error. */
    private JsonNode startStreams(JsonNode c, org.apache.kafka.streams.Topology topology) throws Exception {
        KafkaStreams app = new KafkaStreams(topology, props(c));
        java.util.concurrent.atomic.AtomicReference<Throwable> failure = new java.util.concurrent.atomic.AtomicReference<>();
        app.setUncaughtExceptionHandler(e -> {
            failure.compareAndSet(null, e);
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        app.start();
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs(c));
        while (app.state() != KafkaStreams.State.RUNNING) {
            if (failure.get() != null || app.state() == KafkaStreams.State.ERROR || System.nanoTime() > deadline) {
                KafkaStreams.State state = app.state();
                app.close(Duration.ofSeconds(5));
                if (failure.get() != null) {
                    throw new IllegalStateException("streams app failed in state " + state, failure.get());
                }
                throw new IllegalStateException("streams app not RUNNING in time: " + state);
            }
            Thread.sleep(20);  // poll interval while the app joins its group and restores
        }
        JsonNode r = register("s", app);
        ((ObjectNode) r).put("topology", topology.describe().toString());
        return r;
    }

    private JsonNode close(JsonNode c) throws Exception {
        AutoCloseable h = handles.remove(c.path("handle").asText());
        if (h != null) {
            closeOne(h, c.path("timeout_ms").asLong(5000));
        }
        return obj().put("closed", h != null);
    }

    private int closeAll() {
        int n = 0;
        List<String> ids = new ArrayList<>(handles.keySet());
        java.util.Collections.reverse(ids);
        for (String id : ids) {
            try {
                closeOne(handles.remove(id), 5000);
            } catch (Exception e) {
                System.err.println("close " + id + ": " + e);
            }
            n++;
        }
        return n;
    }

    private static void closeOne(AutoCloseable h, long timeoutMs) throws Exception {
        Duration d = Duration.ofMillis(Math.max(timeoutMs, 10000));
        if (h instanceof KafkaProducer<?, ?> p) {
            p.close(d);
        } else if (h instanceof KafkaConsumer<?, ?> k) {
            k.close(d);
        } else if (h instanceof Admin a) {
            a.close(d);
        } else if (h instanceof KafkaStreams s) {
            s.close(d);
        } else {
            h.close();
        }
    }

    // ---------------------------------------------------------------------------------------- producer

    private JsonNode send(JsonNode c) throws Exception {
        KafkaProducer<byte[], byte[]> p = producer(c);
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (JsonNode r : c.path("records")) {
            String topic = r.has("topic") ? r.get("topic").asText() : c.path("topic").asText();
            Integer partition = r.hasNonNull("partition") ? r.get("partition").asInt() : null;
            Long ts = r.hasNonNull("timestamp") ? r.get("timestamp").asLong() : null;
            List<Header> headers = new ArrayList<>();
            for (JsonNode h : r.path("headers")) {
                headers.add(new RecordHeader(h.get(0).asText(), bytes(h.get(1))));
            }
            futures.add(p.send(new ProducerRecord<>(topic, partition, ts, bytes(r.get("key")), bytes(r.get("value")), headers)));
        }
        if (c.path("flush").asBoolean(true)) {
            p.flush();
        }
        ArrayNode out = arr();
        if (!c.path("wait").asBoolean(true)) {
            return obj().put("sent", futures.size());
        }
        for (Future<RecordMetadata> f : futures) {
            RecordMetadata m = f.get(timeoutMs(c), TimeUnit.MILLISECONDS);
            out.add(obj().put("topic", m.topic()).put("partition", m.partition())
                    .put("offset", m.hasOffset() ? m.offset() : -1).put("timestamp", m.hasTimestamp() ? m.timestamp() : -1));
        }
        return obj().set("records", out);
    }

    private JsonNode sendOffsetsToTransaction(JsonNode c) throws Exception {
        KafkaProducer<byte[], byte[]> p = producer(c);
        Map<TopicPartition, OffsetAndMetadata> offsets = offsets(c.path("offsets"));
        if (c.hasNonNull("consumer")) {  // the consumer's group metadata: generation and member id (KIP-447)
            Object k = handles.get(c.get("consumer").asText());
            p.sendOffsetsToTransaction(offsets, ((KafkaConsumer<?, ?>) k).groupMetadata());
        } else {
            p.sendOffsetsToTransaction(offsets, new org.apache.kafka.clients.consumer.ConsumerGroupMetadata(c.path("group_id").asText()));
        }
        return obj();
    }

    // ---------------------------------------------------------------------------------------- consumer

    /** Subscribe with a rebalance listener that records each callback ("rebalance_events" returns them). */
    private JsonNode subscribe(JsonNode c) {
        KafkaConsumer<byte[], byte[]> k = consumer(c);
        ArrayNode events = rebalances.computeIfAbsent(c.path("handle").asText(), h -> arr());
        org.apache.kafka.clients.consumer.ConsumerRebalanceListener listener = new org.apache.kafka.clients.consumer.ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> ps) { events.add(event("revoked", ps)); }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> ps) { events.add(event("assigned", ps)); }

            @Override
            public void onPartitionsLost(Collection<TopicPartition> ps) { events.add(event("lost", ps)); }
        };
        if (c.hasNonNull("pattern")) {
            k.subscribe(Pattern.compile(c.get("pattern").asText()), listener);
        } else {
            k.subscribe(strings(c.path("topics")), listener);
        }
        return obj();
    }

    private ObjectNode event(String kind, Collection<TopicPartition> ps) {
        ObjectNode e = obj().put("kind", kind);
        e.set("partitions", tps(ps));
        return e;
    }

    /** Poll until "count" records arrived (default 1) or timeout_ms passed; returns what arrived. */
    private JsonNode poll(JsonNode c) {
        KafkaConsumer<byte[], byte[]> k = consumer(c);
        int count = c.path("count").asInt(1);
        long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(timeoutMs(c));
        long step = c.path("poll_ms").asLong(100);
        ArrayNode records = arr();
        do {
            for (ConsumerRecord<byte[], byte[]> r : k.poll(Duration.ofMillis(step))) {
                ObjectNode o = obj().put("topic", r.topic()).put("partition", r.partition()).put("offset", r.offset())
                        .put("timestamp", r.timestamp()).put("timestamp_type", r.timestampType().name);
                o.set("key", data(r.key()));
                o.set("value", data(r.value()));
                ArrayNode hs = arr();
                for (Header h : r.headers()) {
                    hs.add(arr().add(h.key()).add(data(h.value())));
                }
                o.set("headers", hs);
                records.add(o);
            }
        } while (records.size() < count && System.nanoTime() < deadline);
        ObjectNode out = obj();
        out.set("records", records);
        out.set("assignment", tps(k.assignment()));
        return out;
    }

    private JsonNode commit(JsonNode c) {
        KafkaConsumer<byte[], byte[]> k = consumer(c);
        if (c.has("offsets")) {
            k.commitSync(offsets(c.get("offsets")), timeout(c));
        } else {
            k.commitSync(timeout(c));
        }
        return obj();
    }

    private JsonNode committed(JsonNode c) {
        Map<TopicPartition, OffsetAndMetadata> m = consumer(c).committed(new java.util.HashSet<>(partitions(c.path("partitions"))), timeout(c));
        ArrayNode out = arr();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : m.entrySet()) {
            ObjectNode o = tp(e.getKey());
            if (e.getValue() == null) {
                o.putNull("offset");
            } else {
                o.put("offset", e.getValue().offset()).put("metadata", e.getValue().metadata());
            }
            out.add(o);
        }
        return obj().set("offsets", out);
    }

    private JsonNode offsetsForTimes(JsonNode c) {
        Map<TopicPartition, Long> query = new HashMap<>();
        for (JsonNode p : c.path("partitions")) {
            query.put(new TopicPartition(p.get("topic").asText(), p.get("partition").asInt()), p.get("timestamp").asLong());
        }
        ArrayNode out = arr();
        for (Map.Entry<TopicPartition, OffsetAndTimestamp> e : consumer(c).offsetsForTimes(query, timeout(c)).entrySet()) {
            ObjectNode o = tp(e.getKey());
            if (e.getValue() == null) {
                o.putNull("offset");
            } else {
                o.put("offset", e.getValue().offset()).put("timestamp", e.getValue().timestamp());
            }
            out.add(o);
        }
        return obj().set("offsets", out);
    }

    private static JsonNode offsetsMap(Map<TopicPartition, Long> m) {
        ArrayNode out = arr();
        m.forEach((k, v) -> out.add(tp(k).put("offset", v)));
        return obj().set("offsets", out);
    }

    // ---------------------------------------------------------------------------------------- admin

    private JsonNode createTopics(JsonNode c) throws Exception {
        List<NewTopic> topics = new ArrayList<>();
        for (JsonNode t : c.path("topics")) {
            java.util.Optional<Integer> parts = t.hasNonNull("partitions") ? java.util.Optional.of(t.get("partitions").asInt()) : java.util.Optional.empty();
            java.util.Optional<Short> rf = t.hasNonNull("replication_factor") ? java.util.Optional.of((short) t.get("replication_factor").asInt()) : java.util.Optional.empty();
            NewTopic nt = new NewTopic(t.get("name").asText(), parts, rf);
            Map<String, String> configs = new HashMap<>();
            t.path("configs").fields().forEachRemaining(e -> configs.put(e.getKey(), e.getValue().asText()));
            topics.add(nt.configs(configs));
        }
        var result = admin(c).createTopics(topics, new CreateTopicsOptions().validateOnly(c.path("validate_only").asBoolean(false)));
        result.all().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        ArrayNode out = arr();
        for (NewTopic t : topics) {
            ObjectNode o = obj().put("name", t.name());
            try {
                o.put("partitions", result.numPartitions(t.name()).get()).put("replication_factor", result.replicationFactor(t.name()).get());
            } catch (ExecutionException e) {
                o.putNull("partitions");  // not reported (e.g. an old broker)
            }
            out.add(o);
        }
        return obj().set("topics", out);
    }

    private JsonNode listTopics(JsonNode c) throws Exception {
        Set<String> names = admin(c).listTopics(new ListTopicsOptions().listInternal(c.path("internal").asBoolean(false)))
                .names().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        ArrayNode out = arr();
        new TreeSet<>(names).forEach(out::add);
        return obj().set("topics", out);
    }

    private JsonNode describeTopics(JsonNode c) throws Exception {
        Map<String, TopicDescription> m = admin(c).describeTopics(strings(c.path("topics"))).allTopicNames().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        ArrayNode out = arr();
        for (TopicDescription d : m.values()) {
            ObjectNode o = obj().put("name", d.name()).put("internal", d.isInternal()).put("topic_id", d.topicId().toString());
            ArrayNode ps = arr();
            for (TopicPartitionInfo p : d.partitions()) {
                ObjectNode po = obj().put("partition", p.partition()).put("leader", p.leader() == null ? -1 : p.leader().id());
                po.set("replicas", nodeIds(p.replicas()));
                po.set("isr", nodeIds(p.isr()));
                ps.add(po);
            }
            o.set("partitions", ps);
            out.add(o);
        }
        return obj().set("topics", out);
    }

    private JsonNode createPartitions(JsonNode c) throws Exception {
        Map<String, NewPartitions> m = new HashMap<>();
        m.put(c.path("topic").asText(), NewPartitions.increaseTo(c.path("count").asInt()));
        admin(c).createPartitions(m).all().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        return obj();
    }

    private static ConfigResource resource(JsonNode c) {
        ConfigResource.Type type = ConfigResource.Type.valueOf(c.path("type").asText("topic").toUpperCase());
        return new ConfigResource(type, c.path("name").asText());
    }

    private JsonNode describeConfigs(JsonNode c) throws Exception {
        ConfigResource r = resource(c);
        Config config = admin(c).describeConfigs(List.of(r)).all().get(timeoutMs(c), TimeUnit.MILLISECONDS).get(r);
        ObjectNode out = obj();
        for (ConfigEntry e : config.entries()) {
            ObjectNode o = obj().put("value", e.value()).put("source", e.source().name())
                    .put("read_only", e.isReadOnly()).put("sensitive", e.isSensitive()).put("default", e.isDefault());
            out.set(e.name(), o);
        }
        return obj().set("configs", out);
    }

    private JsonNode alterConfigs(JsonNode c) throws Exception {
        ConfigResource r = resource(c);
        List<AlterConfigOp> ops = new ArrayList<>();
        for (JsonNode o : c.path("ops")) {
            AlterConfigOp.OpType type = AlterConfigOp.OpType.valueOf(o.path("op").asText("set").toUpperCase());
            ops.add(new AlterConfigOp(new ConfigEntry(o.get("name").asText(), o.path("value").isNull() ? null : o.path("value").asText()), type));
        }
        Map<ConfigResource, Collection<AlterConfigOp>> m = new HashMap<>();
        m.put(r, ops);
        admin(c).incrementalAlterConfigs(m, new org.apache.kafka.clients.admin.AlterConfigsOptions().validateOnly(c.path("validate_only").asBoolean(false)))
                .all().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        return obj();
    }

    private JsonNode describeCluster(JsonNode c) throws Exception {
        DescribeClusterResult r = admin(c).describeCluster();
        long t = timeoutMs(c);
        ObjectNode out = obj().put("cluster_id", r.clusterId().get(t, TimeUnit.MILLISECONDS));
        Node controller = r.controller().get(t, TimeUnit.MILLISECONDS);
        out.put("controller", controller == null ? -1 : controller.id());
        ArrayNode nodes = arr();
        for (Node n : r.nodes().get(t, TimeUnit.MILLISECONDS)) {
            nodes.add(obj().put("id", n.id()).put("host", n.host()).put("port", n.port()).put("rack", n.rack()));
        }
        out.set("nodes", nodes);
        return out;
    }

    private JsonNode listGroups(JsonNode c) throws Exception {
        Collection<GroupListing> all = admin(c).listGroups(new ListGroupsOptions()).all().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        ArrayNode out = arr();
        for (GroupListing g : all) {
            out.add(obj().put("group_id", g.groupId()).put("protocol", g.protocol())
                    .put("type", g.type().map(Enum::name).orElse(null))
                    .put("state", g.groupState().map(Enum::name).orElse(null)));
        }
        return obj().set("groups", out);
    }

    private JsonNode describeGroups(JsonNode c) throws Exception {
        Map<String, ConsumerGroupDescription> m = admin(c).describeConsumerGroups(strings(c.path("groups"))).all().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        ArrayNode out = arr();
        for (ConsumerGroupDescription d : m.values()) {
            ObjectNode o = obj().put("group_id", d.groupId()).put("state", d.groupState().name()).put("type", d.type().name())
                    .put("assignor", d.partitionAssignor()).put("coordinator", d.coordinator() == null ? -1 : d.coordinator().id());
            ArrayNode members = arr();
            for (MemberDescription md : d.members()) {
                ObjectNode mo = obj().put("member_id", md.consumerId()).put("instance_id", md.groupInstanceId().orElse(null))
                        .put("client_id", md.clientId()).put("host", md.host());
                mo.set("assignment", tps(md.assignment().topicPartitions()));
                members.add(mo);
            }
            o.set("members", members);
            out.add(o);
        }
        return obj().set("groups", out);
    }

    private JsonNode listGroupOffsets(JsonNode c) throws Exception {
        Map<TopicPartition, OffsetAndMetadata> m = admin(c).listConsumerGroupOffsets(c.path("group_id").asText())
                .partitionsToOffsetAndMetadata().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        ArrayNode out = arr();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : m.entrySet()) {
            ObjectNode o = tp(e.getKey());
            if (e.getValue() == null) {
                o.putNull("offset");
            } else {
                o.put("offset", e.getValue().offset()).put("metadata", e.getValue().metadata());
            }
            out.add(o);
        }
        return obj().set("offsets", out);
    }

    private JsonNode deleteRecords(JsonNode c) throws Exception {
        Map<TopicPartition, RecordsToDelete> m = new HashMap<>();
        for (JsonNode p : c.path("partitions")) {
            m.put(new TopicPartition(p.get("topic").asText(), p.get("partition").asInt()), RecordsToDelete.beforeOffset(p.get("offset").asLong()));
        }
        ArrayNode out = arr();
        for (var e : admin(c).deleteRecords(m).lowWatermarks().entrySet()) {
            out.add(tp(e.getKey()).put("low_watermark", e.getValue().get(timeoutMs(c), TimeUnit.MILLISECONDS).lowWatermark()));
        }
        return obj().set("partitions", out);
    }

    private JsonNode listTransactions(JsonNode c) throws Exception {
        var options = new org.apache.kafka.clients.admin.ListTransactionsOptions();
        if (c.has("states")) {
            List<org.apache.kafka.clients.admin.TransactionState> states = new ArrayList<>();
            c.get("states").forEach(n -> states.add(org.apache.kafka.clients.admin.TransactionState.valueOf(n.asText())));
            options.filterStates(states);
        }
        ArrayNode out = arr();
        for (var t : admin(c).listTransactions(options).all().get(timeoutMs(c), TimeUnit.MILLISECONDS)) {
            out.add(obj().put("transactional_id", t.transactionalId()).put("producer_id", t.producerId()).put("state", t.state().name()));
        }
        return obj().set("transactions", out);
    }

    private JsonNode describeTransactions(JsonNode c) throws Exception {
        ArrayNode out = arr();
        var all = admin(c).describeTransactions(strings(c.path("transactional_ids"))).all().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        for (var e : all.entrySet()) {
            var d = e.getValue();
            ObjectNode o = obj().put("transactional_id", e.getKey()).put("state", d.state().name()).put("producer_id", d.producerId())
                    .put("producer_epoch", d.producerEpoch()).put("timeout_ms", d.transactionTimeoutMs()).put("coordinator", d.coordinatorId());
            if (d.transactionStartTimeMs().isPresent()) {
                o.put("start_time_ms", d.transactionStartTimeMs().getAsLong());
            } else {
                o.putNull("start_time_ms");
            }
            o.set("partitions", tps(d.topicPartitions()));
            out.add(o);
        }
        return obj().set("transactions", out);
    }

    private JsonNode describeProducers(JsonNode c) throws Exception {
        ArrayNode out = arr();
        var all = admin(c).describeProducers(partitions(c.path("partitions"))).all().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        for (var e : all.entrySet()) {
            ArrayNode producers = arr();
            for (var ps : e.getValue().activeProducers()) {
                ObjectNode o = obj().put("producer_id", ps.producerId()).put("producer_epoch", ps.producerEpoch())
                        .put("last_sequence", ps.lastSequence()).put("last_timestamp", ps.lastTimestamp());
                if (ps.currentTransactionStartOffset().isPresent()) {
                    o.put("txn_start_offset", ps.currentTransactionStartOffset().getAsLong());
                } else {
                    o.putNull("txn_start_offset");
                }
                producers.add(o);
            }
            ObjectNode po = tp(e.getKey());
            po.set("producers", producers);
            out.add(po);
        }
        return obj().set("partitions", out);
    }

    private JsonNode listOffsets(JsonNode c) throws Exception {
        Map<TopicPartition, OffsetSpec> m = new HashMap<>();
        for (JsonNode p : c.path("partitions")) {
            String spec = p.path("spec").asText("latest");
            OffsetSpec s = switch (spec) {
                case "earliest" -> OffsetSpec.earliest();
                case "latest" -> OffsetSpec.latest();
                case "max_timestamp" -> OffsetSpec.maxTimestamp();
                case "earliest_local" -> OffsetSpec.earliestLocal();
                default -> OffsetSpec.forTimestamp(Long.parseLong(spec));
            };
            m.put(new TopicPartition(p.get("topic").asText(), p.get("partition").asInt()), s);
        }
        var options = new org.apache.kafka.clients.admin.ListOffsetsOptions(
                "read_committed".equals(c.path("isolation_level").asText()) ? org.apache.kafka.common.IsolationLevel.READ_COMMITTED
                        : org.apache.kafka.common.IsolationLevel.READ_UNCOMMITTED);
        Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> r = admin(c).listOffsets(m, options).all().get(timeoutMs(c), TimeUnit.MILLISECONDS);
        ArrayNode out = arr();
        r.forEach((k, v) -> out.add(tp(k).put("offset", v.offset()).put("timestamp", v.timestamp())));
        return obj().set("offsets", out);
    }

    // ---------------------------------------------------------------------------------------- helpers

    private static Properties props(JsonNode c) {
        Properties p = new Properties();
        c.path("config").fields().forEachRemaining(e -> p.put(e.getKey(), e.getValue().asText()));
        return p;
    }

    private static long timeoutMs(JsonNode c) { return c.path("timeout_ms").asLong(15000); }

    private static Duration timeout(JsonNode c) { return Duration.ofMillis(timeoutMs(c)); }

    private static List<String> strings(JsonNode a) {
        List<String> out = new ArrayList<>();
        a.forEach(n -> out.add(n.asText()));
        return out;
    }

    private static List<TopicPartition> partitions(JsonNode a) {
        List<TopicPartition> out = new ArrayList<>();
        a.forEach(n -> out.add(new TopicPartition(n.get("topic").asText(), n.get("partition").asInt())));
        return out;
    }

    private static Map<TopicPartition, OffsetAndMetadata> offsets(JsonNode a) {
        Map<TopicPartition, OffsetAndMetadata> out = new LinkedHashMap<>();
        a.forEach(n -> out.put(new TopicPartition(n.get("topic").asText(), n.get("partition").asInt()),
                new OffsetAndMetadata(n.get("offset").asLong(), n.path("metadata").asText(""))));
        return out;
    }

    private static ObjectNode tp(TopicPartition p) { return obj().put("topic", p.topic()).put("partition", p.partition()); }

    private static ArrayNode tps(Collection<TopicPartition> ps) {
        List<TopicPartition> sorted = new ArrayList<>(ps);
        sorted.sort((a, b) -> a.topic().equals(b.topic()) ? Integer.compare(a.partition(), b.partition()) : a.topic().compareTo(b.topic()));
        ArrayNode out = arr();
        sorted.forEach(p -> out.add(tp(p)));
        return out;
    }

    private static ArrayNode nodeIds(List<Node> nodes) {
        ArrayNode out = arr();
        nodes.forEach(n -> out.add(n.id()));
        return out;
    }

    private static byte[] bytes(JsonNode n) {
        if (n == null || n.isNull()) {
            return null;
        }
        if (n.isObject() && n.has("base64")) {
            return Base64.getDecoder().decode(n.get("base64").asText());
        }
        return n.asText().getBytes(StandardCharsets.UTF_8);
    }

    private static JsonNode data(byte[] b) {
        if (b == null) {
            return NODES.nullNode();
        }
        try {
            String s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(b)).toString();
            return NODES.textNode(s);
        } catch (CharacterCodingException e) {
            return obj().put("base64", Base64.getEncoder().encodeToString(b));
        }
    }

    private static ObjectNode obj() { return NODES.objectNode(); }

    private static ArrayNode arr() { return NODES.arrayNode(); }

    private static ObjectNode describe(Throwable t) {
        ObjectNode e = obj();
        ArrayNode chain = arr();
        ApiException api = null;
        Throwable innermost = t;
        for (Throwable x = t; x != null; x = x.getCause()) {
            chain.add(x.getClass().getName());
            if (api == null && x instanceof ApiException a) {
                api = a;
            }
            innermost = x;
            if (x.getCause() == x) {
                break;
            }
        }
        Throwable named = api != null ? api : innermost;
        if (api != null) {
            Errors err = Errors.forException(api);
            e.put("type", err.name()).put("code", err.code());
        } else {
            e.putNull("type").putNull("code");
        }
        e.put("class", named.getClass().getSimpleName()).put("message", String.valueOf(named.getMessage()));
        e.set("chain", chain);
        return e;
    }
}
