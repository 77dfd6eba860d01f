package dev.kafkasim.compat;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.Iterator;
import java.util.Map;

import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Branched;
import org.apache.kafka.streams.kstream.BranchedKStream;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.KStream;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;

/** The Kafka Streams topologies the compat tests run (String keys and values on their input topics). */
final class Topologies {
    private Topologies() {
    }

    /**
     * A Keystone-style router: each event of "input" goes to the sink topic of its type (the value up to
     * the first '|'), given by "routes" {type: topic}; an event of any other type goes to "dead_letter".
     */
    static Topology router(JsonNode c) {
        StreamsBuilder b = new StreamsBuilder();
        KStream<String, String> events = b.stream(c.get("input").asText(), Consumed.with(Serdes.String(), Serdes.String()));
        BranchedKStream<String, String> split = events.split();
        Iterator<Map.Entry<String, JsonNode>> routes = c.get("routes").fields();
        while (routes.hasNext()) {
            Map.Entry<String, JsonNode> route = routes.next();
            String type = route.getKey();
            String sink = route.getValue().asText();
            split = split.branch((k, v) -> v != null && v.startsWith(type + "|"),
                    Branched.withConsumer(s -> s.to(sink, Produced.with(Serdes.String(), Serdes.String())), type));
        }
        String deadLetter = c.get("dead_letter").asText();
        split.defaultBranch(Branched.withConsumer(s -> s.to(deadLetter, Produced.with(Serdes.String(), Serdes.String()))));
        return b.build();
    }

    /**
     * A stateful aggregation: the values of "input" (words) re-keyed by value (a repartition topic),
     * counted in the store "counts" (its changelog topic), every update written to "output" as
     * word -> count (a long, 8 bytes big-endian).
     */
    static Topology count(JsonNode c) {
        StreamsBuilder b = new StreamsBuilder();
        b.stream(c.get("input").asText(), Consumed.with(Serdes.String(), Serdes.String()))
                .groupBy((k, v) -> v, Grouped.with("by-word", Serdes.String(), Serdes.String()))
                .count(Materialized.as("counts"))
                .toStream()
                .to(c.get("output").asText(), Produced.with(Serdes.String(), Serdes.Long()));
        return b.build();
    }
}
