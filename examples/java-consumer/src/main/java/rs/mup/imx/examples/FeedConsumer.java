package rs.mup.imx.examples;

import java.io.BufferedWriter;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;

import org.apache.avro.Schema;
import org.apache.avro.SchemaNormalization;
import org.apache.avro.generic.GenericData;
import org.apache.avro.generic.GenericRecord;
import org.apache.avro.message.BinaryMessageDecoder;
import org.apache.avro.message.SchemaStore;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * Reads an imx feed ({@code feed.<unit-id>}) and prints one line per delivery:
 * {@code delivery_id TAB recipient TAB kind TAB subject TAB rules}, where subject is the
 * report's event_id (kind=report) or the correlation_id (kind=correlation) and rules are
 * comma-joined.
 *
 * <p>Nothing here knows the imx schemas in advance, as an outside integrator would not: every
 * value is Avro single-object encoded ({@code C3 01}, the 8-byte little-endian CRC-64-AVRO
 * fingerprint of the writer schema, the Avro body), and the writer schema is found by that
 * fingerprint on the compacted schemas topic (key: the 8 fingerprint bytes as they appear in the
 * value, hex-encoded; value: the schema JSON, self-contained).
 */
public final class FeedConsumer {

    private static final Duration POLL = Duration.ofMillis(200);
    /** An unknown fingerprint re-reads the schemas topic at most this often. */
    private static final long REFRESH_INTERVAL_MS = 2_000;

    private FeedConsumer() {}

    public static void main(String[] argv) throws Exception {
        Options options;
        try {
            options = Options.parse(argv);
        } catch (IllegalArgumentException e) {
            System.err.println("imx-feed-consumer: " + e.getMessage());
            System.err.println(Options.USAGE);
            System.exit(2);
            return;
        }
        Properties client = clientProperties(options);
        TopicSchemas schemas = new TopicSchemas(client, options.schemasTopic);
        schemas.refresh();
        Writer out = new BufferedWriter(new OutputStreamWriter(System.out, StandardCharsets.UTF_8));
        int printed = consumeFeed(client, options, schemas, out);
        out.flush();
        System.err.println("imx-feed-consumer: " + printed + " deliveries");
    }

    /** Connection settings: the properties file (security settings go there), then ours. */
    static Properties clientProperties(Options options) throws IOException {
        Properties props = new Properties();
        if (options.configFile != null) {
            try (InputStream in = Files.newInputStream(options.configFile)) {
                props.load(in);
            }
        }
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, options.bootstrap);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        // Assigned partitions, no group: nothing to commit, and nobody else's offsets to move.
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.remove(ConsumerConfig.GROUP_ID_CONFIG);
        // imx writes feeds with idempotent (and possibly transactional) producers: never show
        // a record of an aborted or still-open transaction.
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        return props;
    }

    static int consumeFeed(Properties client, Options options, TopicSchemas schemas, Writer out)
            throws IOException {
        Map<Long, BinaryMessageDecoder<GenericRecord>> decoders = new HashMap<>();
        int printed = 0;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(client)) {
            List<TopicPartition> partitions = partitionsOf(consumer, options.feedTopic);
            consumer.assign(partitions);
            consumer.seekToBeginning(partitions);
            long lastRecord = System.currentTimeMillis();
            while (options.max == null || printed < options.max) {
                ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL);
                if (records.isEmpty()) {
                    if (options.idleTimeoutMs != null
                            && System.currentTimeMillis() - lastRecord >= options.idleTimeoutMs) {
                        break;
                    }
                    continue;
                }
                lastRecord = System.currentTimeMillis();
                for (ConsumerRecord<byte[], byte[]> record : records) {
                    out.write(render(record, schemas, decoders));
                    out.write('\n');
                    printed++;
                    if (options.max != null && printed >= options.max) {
                        break;
                    }
                }
                out.flush();
            }
        }
        return printed;
    }

    /** The delivery's line, or an ERROR line naming the offset of a value we cannot read. */
    static String render(
            ConsumerRecord<byte[], byte[]> record,
            TopicSchemas schemas,
            Map<Long, BinaryMessageDecoder<GenericRecord>> decoders) {
        byte[] value = record.value();
        String where = record.topic() + "[" + record.partition() + "]@" + record.offset();
        if (value == null || value.length < 10 || value[0] != (byte) 0xC3 || value[1] != 0x01) {
            return "ERROR\t" + where + "\tnot single-object Avro";
        }
        long fingerprint = ByteBuffer.wrap(value, 2, 8).order(ByteOrder.LITTLE_ENDIAN).getLong();
        Schema writer = schemas.findByFingerprint(fingerprint);
        if (writer == null) {
            return "ERROR\t" + where + "\tno schema for fingerprint " + TopicSchemas.hex(fingerprint);
        }
        // The writer schema is also the read schema: this example has no schema of its own to
        // resolve into. A consumer with a compiled reader schema would pass that instead and
        // let Avro's resolution rules absorb newer (compatible) writer versions.
        BinaryMessageDecoder<GenericRecord> decoder = decoders.computeIfAbsent(
                fingerprint, fp -> new BinaryMessageDecoder<>(GenericData.get(), writer, schemas));
        GenericRecord delivery;
        try {
            delivery = decoder.decode(value);
        } catch (IOException | RuntimeException e) {
            return "ERROR\t" + where + "\t" + e;
        }
        String kind = String.valueOf(delivery.get("kind"));
        String subject;
        if ("report".equals(kind)) {
            subject = String.valueOf(((GenericRecord) delivery.get("report")).get("event_id"));
        } else {
            subject = String.valueOf(
                    ((GenericRecord) delivery.get("correlation")).get("correlation_id"));
        }
        List<String> rules = new ArrayList<>();
        for (Object rule : (List<?>) delivery.get("rules")) {
            rules.add(String.valueOf(rule));
        }
        return String.join(
                "\t",
                String.valueOf(delivery.get("delivery_id")),
                String.valueOf(delivery.get("recipient")),
                kind,
                subject,
                String.join(",", rules));
    }

    static List<TopicPartition> partitionsOf(KafkaConsumer<?, ?> consumer, String topic) {
        List<PartitionInfo> infos = consumer.partitionsFor(topic, Duration.ofSeconds(30));
        if (infos == null || infos.isEmpty()) {
            throw new IllegalStateException("topic " + topic + " does not exist");
        }
        List<TopicPartition> partitions = new ArrayList<>();
        for (PartitionInfo info : infos) {
            partitions.add(new TopicPartition(topic, info.partition()));
        }
        return partitions;
    }

    /**
     * Writer schemas by fingerprint, read from the schemas topic. Every record's key is checked
     * against the fingerprint recomputed from its value: trusting a wrong key would decode values
     * with the wrong schema, so such a record is ignored.
     */
    static final class TopicSchemas implements SchemaStore {
        private final Properties client;
        private final String topic;
        private final Map<Long, Schema> byFingerprint = new ConcurrentHashMap<>();
        private long lastRefresh = Long.MIN_VALUE / 2;

        TopicSchemas(Properties client, String topic) {
            this.client = client;
            this.topic = topic;
        }

        @Override
        public Schema findByFingerprint(long fingerprint) {
            Schema found = byFingerprint.get(fingerprint);
            // A producer publishes a schema before its first use, so an unknown fingerprint
            // may just be newer than our last read of the topic.
            if (found == null && System.currentTimeMillis() - lastRefresh >= REFRESH_INTERVAL_MS) {
                refresh();
                found = byFingerprint.get(fingerprint);
            }
            return found;
        }

        /** Read the whole topic, from the beginning to its end as of now. */
        void refresh() {
            lastRefresh = System.currentTimeMillis();
            try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(client)) {
                List<TopicPartition> partitions = partitionsOf(consumer, topic);
                consumer.assign(partitions);
                consumer.seekToBeginning(partitions);
                Map<TopicPartition, Long> end = consumer.endOffsets(partitions);
                while (!reachedEnd(consumer, end)) {
                    for (ConsumerRecord<byte[], byte[]> record : consumer.poll(POLL)) {
                        add(record);
                    }
                }
            }
        }

        private static boolean reachedEnd(KafkaConsumer<?, ?> consumer, Map<TopicPartition, Long> end) {
            for (Map.Entry<TopicPartition, Long> e : end.entrySet()) {
                if (consumer.position(e.getKey()) < e.getValue()) {
                    return false;
                }
            }
            return true;
        }

        private void add(ConsumerRecord<byte[], byte[]> record) {
            if (record.key() == null || record.value() == null) {
                return; // a tombstone, or not a schema record
            }
            String key = new String(record.key(), StandardCharsets.US_ASCII);
            Schema schema;
            try {
                schema = new Schema.Parser().parse(new String(record.value(), StandardCharsets.UTF_8));
            } catch (RuntimeException e) {
                System.err.println("imx-feed-consumer: ignoring unparsable schema at offset "
                        + record.offset() + ": " + e.getMessage());
                return;
            }
            long fingerprint = SchemaNormalization.parsingFingerprint64(schema);
            if (!hex(fingerprint).equals(key)) {
                System.err.println("imx-feed-consumer: ignoring schema at offset " + record.offset()
                        + ": key " + key + " is not its fingerprint " + hex(fingerprint));
                return;
            }
            byFingerprint.put(fingerprint, schema);
        }

        /** The fingerprint as the topic's keys spell it: its little-endian bytes in hex. */
        static String hex(long fingerprint) {
            byte[] bytes = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(fingerprint).array();
            return HexFormat.of().formatHex(bytes);
        }
    }

    /** Command-line options. */
    static final class Options {
        static final String USAGE = String.join(
                "\n",
                "usage: java -jar imx-feed-consumer.jar --bootstrap HOST:PORT --feed TOPIC",
                "           [--schemas TOPIC] [--max N] [--idle-timeout SECONDS] [--config FILE]",
                "  --bootstrap     Kafka bootstrap servers",
                "  --feed          the feed topic, e.g. feed.gpd-oc",
                "  --schemas       the schemas topic (default imx.schemas)",
                "  --max           stop after N deliveries",
                "  --idle-timeout  stop after this many seconds without a record",
                "  --config        Kafka client properties (security.protocol, sasl.*, ssl.*)");

        String bootstrap;
        String feedTopic;
        String schemasTopic = "imx.schemas";
        Integer max;
        Long idleTimeoutMs;
        Path configFile;

        static Options parse(String[] argv) {
            Options o = new Options();
            for (int i = 0; i < argv.length; i++) {
                String name = argv[i];
                if (name.equals("-h") || name.equals("--help")) {
                    System.out.println(USAGE);
                    System.exit(0);
                }
                if (i + 1 >= argv.length) {
                    throw new IllegalArgumentException(name + " needs a value");
                }
                String value = argv[++i];
                switch (name) {
                    case "--bootstrap" -> o.bootstrap = value;
                    case "--feed" -> o.feedTopic = value;
                    case "--schemas" -> o.schemasTopic = value;
                    case "--max" -> o.max = positive(name, Integer.parseInt(value));
                    case "--idle-timeout" -> o.idleTimeoutMs =
                            (long) (positive(name, Double.parseDouble(value)) * 1000);
                    case "--config" -> o.configFile = Path.of(value);
                    default -> throw new IllegalArgumentException("unknown option " + name);
                }
            }
            if (o.bootstrap == null || o.feedTopic == null) {
                throw new IllegalArgumentException("--bootstrap and --feed are required");
            }
            return o;
        }

        private static <T extends Number> T positive(String name, T value) {
            if (value.doubleValue() <= 0) {
                throw new IllegalArgumentException(name + " must be positive");
            }
            return value;
        }
    }
}
