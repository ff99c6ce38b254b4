package rs.mup.imx.strimzi;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.BeanDescription;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JavaType;
import com.fasterxml.jackson.databind.JsonMappingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MapperFeature;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.cfg.CoercionAction;
import com.fasterxml.jackson.databind.cfg.CoercionInputShape;
import com.fasterxml.jackson.databind.exc.InvalidTypeIdException;
import com.fasterxml.jackson.databind.exc.UnrecognizedPropertyException;
import com.fasterxml.jackson.databind.introspect.Annotated;
import com.fasterxml.jackson.databind.introspect.AnnotatedMember;
import com.fasterxml.jackson.databind.introspect.BeanPropertyDefinition;
import com.fasterxml.jackson.databind.introspect.JacksonAnnotationIntrospector;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.type.LogicalType;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import io.strimzi.api.kafka.model.kafka.Kafka;
import io.strimzi.api.kafka.model.nodepool.KafkaNodePool;
import io.strimzi.api.kafka.model.topic.KafkaTopic;
import io.strimzi.api.kafka.model.user.KafkaUser;
import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.objectweb.asm.AnnotationVisitor;
import org.objectweb.asm.ClassReader;
import org.objectweb.asm.ClassVisitor;
import org.objectweb.asm.FieldVisitor;
import org.objectweb.asm.MethodVisitor;
import org.objectweb.asm.Opcodes;

/**
 * Validates the Strimzi resources in YAML files against Strimzi's own Java model.
 *
 * <p>Usage: {@code java -jar strimzi-validate.jar FILE_OR_FOLDER...} (a folder: its *.yaml and
 * *.yml files). Every document of kind Kafka, KafkaNodePool, KafkaTopic or KafkaUser is
 * deserialised strictly into its io.strimzi.api class: unknown fields (the model's catch-all
 * "additionalProperties" is switched off), unknown enum values, unknown "type" discriminators,
 * nulls for primitives, duplicate keys and scalars of the wrong JSON type are refused. Then the
 * constraints that Strimzi's CRD generator turns into the CRD schema are checked from the
 * model's annotations: the API version is one the CRD serves, required fields (per API version),
 * fields and types present only in some API versions, minimum, maximum, pattern, minimum items
 * and oneOf; deprecated fields are refused, and so are config options that the spec class lists
 * as forbidden (the operator sets them itself and drops them). A node pool, topic or user must
 * name a Kafka of the same files in its strimzi.io/cluster label. Last, what the model read is
 * written back and must
 * hold every value of the input, so nothing was silently dropped. Other Strimzi kinds are
 * refused (no model is checked for them); other documents are skipped.
 *
 * <p>Every problem is printed on standard error as "FILE: document N: KIND NAME: FIELD: what";
 * the exit status is 0 when all resources are valid, 1 when any is not, 2 on a usage or read
 * error.
 */
public final class StrimziValidate {

    private static final String GROUP = "kafka.strimzi.io";
    private static final Map<String, Class<?>> MODELS = new LinkedHashMap<>();

    static {
        MODELS.put("Kafka", Kafka.class);
        MODELS.put("KafkaNodePool", KafkaNodePool.class);
        MODELS.put("KafkaTopic", KafkaTopic.class);
        MODELS.put("KafkaUser", KafkaUser.class);
    }

    private static final String CRDGEN = "Lio/strimzi/crdgenerator/annotations/";
    private static final String CRD = CRDGEN + "Crd;";
    private static final String PRESENT_IN = CRDGEN + "PresentInVersions;";
    private static final String REQUIRED_IN = CRDGEN + "RequiredInVersions;";
    private static final String MINIMUM = CRDGEN + "Minimum;";
    private static final String MAXIMUM = CRDGEN + "Maximum;";
    private static final String PATTERN = CRDGEN + "Pattern;";
    private static final String MINIMUM_ITEMS = CRDGEN + "MinimumItems;";
    private static final String ONE_OF = CRDGEN + "OneOf;";
    private static final String CEL = CRDGEN + "CelValidation;";

    private final ObjectMapper model = strictMapper();
    private final ObjectMapper yaml;
    private final List<String> problems = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();
    private final Map<String, Integer> counts = new LinkedHashMap<>();
    private int skipped;
    /** Kafka clusters seen, as "namespace/name", and the resources that name one by label. */
    private final Set<String> clusters = new TreeSet<>();
    private final Map<Doc, String> clusterRefs = new LinkedHashMap<>();

    private StrimziValidate() {
        YAMLFactory factory = new YAMLFactory();
        factory.enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);
        yaml = new ObjectMapper(factory);
    }

    public static void main(String[] args) {
        if (args.length == 0) {
            System.err.println("usage: java -jar strimzi-validate.jar FILE_OR_FOLDER...");
            System.exit(2);
        }
        StrimziValidate validator = new StrimziValidate();
        try {
            for (Path file : files(args)) {
                validator.validateFile(file);
            }
        } catch (IOException e) {
            System.err.println("strimzi-validate: " + e.getMessage());
            System.exit(2);
        }
        validator.checkClusterRefs();
        for (String note : new LinkedHashSet<>(validator.notes)) {
            System.out.println("note: " + note);
        }
        for (String problem : validator.problems) {
            System.err.println(problem);
        }
        String kinds = validator.counts.entrySet().stream()
                .map(e -> e.getValue() + " " + e.getKey())
                .collect(Collectors.joining(", "));
        int checked = validator.counts.values().stream().mapToInt(Integer::intValue).sum();
        System.out.printf(
                "strimzi-validate (Strimzi %s model): %d Strimzi resource(s) checked (%s), "
                        + "%d other document(s) skipped, %d problem(s)%n",
                version(), checked, kinds.isEmpty() ? "none" : kinds, validator.skipped,
                validator.problems.size());
        System.exit(validator.problems.isEmpty() ? 0 : 1);
    }

    static String version() {
        Properties props = new Properties();
        try (InputStream in = StrimziValidate.class.getResourceAsStream(
                "/strimzi-validate.properties")) {
            if (in != null) {
                props.load(in);
            }
        } catch (IOException e) {
            return "unknown";
        }
        return props.getProperty("strimzi.version", "unknown");
    }

    private static List<Path> files(String[] args) throws IOException {
        List<Path> out = new ArrayList<>();
        for (String arg : args) {
            Path path = Path.of(arg);
            if (Files.isDirectory(path)) {
                try (Stream<Path> listing = Files.list(path)) {
                    listing.filter(p -> Files.isRegularFile(p))
                            .filter(p -> p.toString().endsWith(".yaml")
                                    || p.toString().endsWith(".yml"))
                            .sorted()
                            .forEach(out::add);
                }
            } else if (Files.isRegularFile(path)) {
                out.add(path);
            } else {
                throw new IOException(arg + ": no such file or folder");
            }
        }
        return out;
    }

    // ------------------------------------------------------------------ the strict mapper

    /** Switches off the model's catch-all for unknown fields (UnknownPropertyPreserving). */
    private static final class NoCatchAll extends JacksonAnnotationIntrospector {
        private static final long serialVersionUID = 1L;

        @Override
        public Boolean hasAnySetter(Annotated a) {
            return Boolean.FALSE;
        }

        @Override
        public Boolean hasAnyGetter(Annotated a) {
            return Boolean.FALSE;
        }

        /** Writes every property back, defaults too, so that the round trip can compare them. */
        @Override
        public JsonInclude.Value findPropertyInclusion(Annotated a) {
            return JsonInclude.Value.construct(JsonInclude.Include.ALWAYS, JsonInclude.Include.ALWAYS);
        }
    }

    static ObjectMapper strictMapper() {
        ObjectMapper mapper = JsonMapper.builder()
                .annotationIntrospector(new NoCatchAll())
                .enable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES)
                .enable(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES)
                .enable(DeserializationFeature.FAIL_ON_NUMBERS_FOR_ENUMS)
                .enable(DeserializationFeature.FAIL_ON_INVALID_SUBTYPE)
                .enable(DeserializationFeature.FAIL_ON_MISSING_EXTERNAL_TYPE_ID_PROPERTY)
                .enable(DeserializationFeature.FAIL_ON_READING_DUP_TREE_KEY)
                .enable(DeserializationFeature.FAIL_ON_TRAILING_TOKENS)
                .disable(DeserializationFeature.READ_UNKNOWN_ENUM_VALUES_AS_NULL)
                .disable(DeserializationFeature.READ_UNKNOWN_ENUM_VALUES_USING_DEFAULT_VALUE)
                .disable(DeserializationFeature.ACCEPT_SINGLE_VALUE_AS_ARRAY)
                .disable(DeserializationFeature.ACCEPT_FLOAT_AS_INT)
                .disable(MapperFeature.ALLOW_COERCION_OF_SCALARS)
                // A getter is no setter: "additionalProperties" must not be writable as a field.
                .disable(MapperFeature.USE_GETTERS_AS_SETTERS)
                .build();
        // The API server refuses a string where the schema says integer, and the reverse.
        for (LogicalType type : new LogicalType[] {
                LogicalType.Integer, LogicalType.Float, LogicalType.Boolean}) {
            mapper.coercionConfigFor(type).setCoercion(CoercionInputShape.String, CoercionAction.Fail);
            mapper.coercionConfigFor(type)
                    .setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail);
        }
        for (CoercionInputShape shape : new CoercionInputShape[] {
                CoercionInputShape.Integer, CoercionInputShape.Float, CoercionInputShape.Boolean}) {
            mapper.coercionConfigFor(LogicalType.Textual).setCoercion(shape, CoercionAction.Fail);
            mapper.coercionConfigFor(LogicalType.Enum).setCoercion(shape, CoercionAction.Fail);
        }
        mapper.coercionConfigFor(LogicalType.POJO)
                .setCoercion(CoercionInputShape.EmptyString, CoercionAction.Fail);
        return mapper;
    }

    // ------------------------------------------------------------------ files and documents

    private void validateFile(Path file) throws IOException {
        int index = 0;
        try (MappingIterator<JsonNode> docs = yaml.readerFor(JsonNode.class).readValues(file.toFile())) {
            while (docs.hasNextValue()) {
                JsonNode doc = docs.nextValue();
                index++;
                if (doc == null || doc.isNull() || doc.isMissingNode()) {
                    continue;
                }
                validateDocument(file + ": document " + index, doc);
            }
        } catch (IOException | RuntimeException e) {
            // A duplicate key or bad YAML; MappingIterator wraps some of these unchecked.
            problems.add(file + ": document " + (index + 1) + ": cannot be read: "
                    + firstLine(e.getMessage()).replace(" (through reference chain", ""));
        }
    }

    private void validateDocument(String where, JsonNode doc) {
        String apiVersion = doc.path("apiVersion").asText("");
        String kind = doc.path("kind").asText("");
        String group = apiVersion.contains("/") ? apiVersion.substring(0, apiVersion.indexOf('/')) : "";
        if (!group.endsWith("strimzi.io")) {
            skipped++;
            return;
        }
        String name = doc.path("metadata").path("name").asText("");
        String what = where + ": " + kind + " " + (name.isEmpty() ? "(no name)" : name);
        Class<?> type = MODELS.get(kind);
        if (type == null) {
            problems.add(what + ": kind: no Strimzi model is checked for this kind (only "
                    + String.join(", ", MODELS.keySet()) + ")");
            return;
        }
        counts.merge(kind, 1, Integer::sum);
        String version = apiVersion.substring(apiVersion.indexOf('/') + 1);
        Doc d = new Doc(what, version);
        if (!checkApiVersion(d, type, group)) {
            return;
        }
        if (name.isEmpty()) {
            d.problem("metadata.name", "required field is missing");
        }
        String namespace = doc.path("metadata").path("namespace").asText("");
        if (type == Kafka.class) {
            clusters.add(namespace + "/" + name);
        } else {
            JsonNode label = doc.path("metadata").path("labels").path("strimzi.io/cluster");
            clusterRefs.put(d, namespace + "/" + label.asText(""));
        }
        Object resource;
        try {
            resource = model.readerFor(type).readValue(doc);
        } catch (IOException e) {
            d.problem(path(e), describe(e));
            return;
        }
        walk(d, resource, doc, "");
        // apiVersion and kind were checked above; a model class reports its own storage version.
        JsonNode read = ((com.fasterxml.jackson.databind.node.ObjectNode) doc.deepCopy()).without(List.of("apiVersion", "kind"));
        for (String lost : kept(read, model.valueToTree(resource), "")) {
            if (!d.reported(lost)) {
                d.problem(lost, "the model did not keep this value (not a value it accepts)");
            }
        }
    }

    /** A Strimzi operator only acts on a node pool, topic or user labelled with its cluster. */
    private void checkClusterRefs() {
        if (clusters.isEmpty()) {
            return;
        }
        for (Map.Entry<Doc, String> ref : clusterRefs.entrySet()) {
            // A resource refused already is not worth a second line.
            if (ref.getKey().paths.isEmpty() && !clusters.contains(ref.getValue())) {
                ref.getKey().problem("metadata.labels.strimzi.io/cluster", "names no Kafka of these files ("
                        + ref.getValue() + "; clusters: " + String.join(", ", clusters) + ")");
            }
        }
    }

    /** One document being checked: where it is, its API version, and what was said of it. */
    private final class Doc {
        final String what;
        final String version;
        final Set<String> paths = new LinkedHashSet<>();

        Doc(String what, String version) {
            this.what = what;
            this.version = version;
        }

        void problem(String field, String message) {
            paths.add(field);
            problems.add(what + ": " + (field.isEmpty() ? "(document)" : field) + ": " + message);
        }

        boolean reported(String field) {
            for (String seen : paths) {
                if (field.equals(seen) || field.startsWith(seen + ".") || field.startsWith(seen + "[")
                        || seen.startsWith(field + ".") || seen.startsWith(field + "[")) {
                    return true;
                }
            }
            return false;
        }
    }

    @SuppressWarnings("unchecked")
    private boolean checkApiVersion(Doc d, Class<?> type, String group) {
        Map<String, Object> crd = Annotations.of(type).clazz.get(CRD);
        if (crd == null) {
            d.problem("apiVersion", "the model class " + type.getName() + " carries no @Crd");
            return false;
        }
        Map<String, Object> spec = (Map<String, Object>) crd.get("spec");
        if (!group.equals(spec.get("group"))) {
            d.problem("apiVersion", "group " + group + " is not " + spec.get("group"));
            return false;
        }
        List<String> served = new ArrayList<>();
        for (Object v : (List<Object>) spec.getOrDefault("versions", List.of())) {
            Map<String, Object> version = (Map<String, Object>) v;
            if (!Boolean.FALSE.equals(version.get("served"))) {
                served.add((String) version.get("name"));
            }
            if (d.version.equals(version.get("name")) && Boolean.TRUE.equals(version.get("deprecated"))) {
                notes.add(group + "/" + d.version + " " + type.getSimpleName() + ": "
                        + version.getOrDefault("deprecationWarning", "deprecated"));
            }
        }
        if (!served.contains(d.version)) {
            d.problem("apiVersion", d.version + " is not served by Strimzi " + version()
                    + " (served: " + String.join(", ", served) + ")");
            return false;
        }
        return true;
    }

    // ------------------------------------------------------------------ deserialisation errors

    private static String path(JsonMappingException e) {
        StringBuilder out = new StringBuilder();
        for (JsonMappingException.Reference ref : e.getPath()) {
            if (ref.getFieldName() != null) {
                if (out.length() > 0) {
                    out.append('.');
                }
                out.append(ref.getFieldName());
            } else if (ref.getIndex() >= 0) {
                out.append('[').append(ref.getIndex()).append(']');
            }
        }
        return out.toString();
    }

    private static String path(IOException e) {
        return e instanceof JsonMappingException ? path((JsonMappingException) e) : "";
    }

    private static String describe(IOException e) {
        if (e instanceof UnrecognizedPropertyException) {
            UnrecognizedPropertyException u = (UnrecognizedPropertyException) e;
            Collection<Object> known = u.getKnownPropertyIds();
            String fields = known == null ? "?" : known.stream().map(String::valueOf)
                    .filter(f -> !f.equals("additionalProperties")).sorted()
                    .collect(Collectors.joining(", "));
            return "unknown field '" + u.getPropertyName() + "' (the model's fields here: " + fields + ")";
        }
        if (e instanceof InvalidTypeIdException) {
            InvalidTypeIdException t = (InvalidTypeIdException) e;
            return "unknown or missing type '" + t.getTypeId() + "' for " + t.getBaseType().getRawClass().getSimpleName()
                    + ": " + firstLine(t.getOriginalMessage());
        }
        String message = firstLine(e instanceof JsonMappingException
                ? ((JsonMappingException) e).getOriginalMessage() : e.getMessage());
        int hint = message.indexOf(" (but might if coercion");
        return hint < 0 ? message : "wrong type: " + message.substring(0, hint);
    }

    private static String firstLine(String message) {
        if (message == null) {
            return "invalid";
        }
        int nl = message.indexOf('\n');
        return nl < 0 ? message : message.substring(0, nl);
    }

    // ------------------------------------------------------------------ the model's constraints

    /** Walks what the model read beside its input, checking the annotated constraints. */
    @SuppressWarnings("unchecked")
    private void walk(Doc d, Object value, JsonNode input, String at) {
        if (value == null || input == null || input.isNull()) {
            return;
        }
        if (value instanceof List) {
            List<Object> items = (List<Object>) value;
            for (int i = 0; i < items.size() && i < input.size(); i++) {
                walk(d, items.get(i), input.get(i), at + "[" + i + "]");
            }
            return;
        }
        if (value instanceof Map) {
            for (Map.Entry<Object, Object> e : ((Map<Object, Object>) value).entrySet()) {
                walk(d, e.getValue(), input.get(String.valueOf(e.getKey())), join(at, String.valueOf(e.getKey())));
            }
            return;
        }
        Class<?> type = value.getClass();
        String pkg = type.getPackageName();
        if (type.isEnum() || !(pkg.startsWith("io.strimzi.") || pkg.startsWith("io.fabric8."))) {
            return;
        }
        Annotations classAnnotations = Annotations.of(type);
        String presentIn = (String) classAnnotations.classValue(PRESENT_IN);
        if (presentIn != null && !Versions.matches(presentIn, d.version)) {
            d.problem(at, type.getSimpleName() + " is only in API version(s) " + presentIn + ", not "
                    + d.version);
        }
        if (type.isAnnotationPresent(Deprecated.class)) {
            d.problem(at, type.getSimpleName() + " is deprecated in Strimzi " + version());
        }
        if (classAnnotations.clazz.containsKey(CEL)) {
            notes.add("CEL rules of " + type.getSimpleName() + " are not evaluated");
        }
        BeanDescription bean = model.getSerializationConfig().introspect(model.constructType(type));
        Set<String> given = new TreeSet<>();
        for (BeanPropertyDefinition prop : bean.findProperties()) {
            String name = prop.getName();
            if (name.equals("additionalProperties")) {
                continue;  // the catch-all, switched off: never a field of the resource
            }
            JsonNode in = input.get(name);
            boolean present = in != null && !in.isNull();
            if (present) {
                given.add(name);
            }
            String field = join(at, name);
            Map<String, Map<String, Object>> anns = propertyAnnotations(type, prop);
            String requiredIn = (String) valueOf(anns, REQUIRED_IN);
            boolean required = prop.isRequired()
                    || (requiredIn != null && Versions.matches(requiredIn, d.version));
            if (required && !present) {
                d.problem(field, "required field is missing"
                        + (requiredIn != null ? " (required in " + requiredIn + ")" : ""));
                continue;
            }
            if (!present) {
                continue;
            }
            String onlyIn = (String) valueOf(anns, PRESENT_IN);
            if (onlyIn != null && !Versions.matches(onlyIn, d.version)) {
                d.problem(field, "not part of API version " + d.version + " (only in " + onlyIn + ")");
            }
            if (deprecated(prop)) {
                d.problem(field, "deprecated in Strimzi " + version() + " (and dropped from the v1 API)");
            }
            AnnotatedMember accessor = prop.getAccessor();
            if (accessor == null) {
                continue;
            }
            accessor.fixAccess(true);
            Object v = accessor.getValue(value);
            if (v == null) {
                d.problem(field, notAccepted(prop.getPrimaryType(), in));
                continue;
            }
            if (v instanceof List && in.isArray()) {
                List<Object> items = (List<Object>) v;
                for (int i = 0; i < items.size() && i < in.size(); i++) {
                    if (items.get(i) == null && !in.get(i).isNull()) {
                        d.problem(field + "[" + i + "]", notAccepted(prop.getPrimaryType().getContentType(), in.get(i)));
                    }
                }
                Object min = valueOf(anns, MINIMUM_ITEMS);
                if (min instanceof Number && items.size() < ((Number) min).intValue()) {
                    d.problem(field, "needs at least " + min + " item(s), has " + items.size());
                }
            }
            if (v instanceof Number) {
                double n = ((Number) v).doubleValue();
                Object min = valueOf(anns, MINIMUM);
                Object max = valueOf(anns, MAXIMUM);
                if (min instanceof Number && n < ((Number) min).doubleValue()) {
                    d.problem(field, v + " is below the minimum " + min);
                }
                if (max instanceof Number && n > ((Number) max).doubleValue()) {
                    d.problem(field, v + " is above the maximum " + max);
                }
            }
            Object regex = valueOf(anns, PATTERN);
            if (regex instanceof String && v instanceof String) {
                java.util.regex.Matcher m = java.util.regex.Pattern.compile((String) regex).matcher((String) v);
                if (!m.find()) {
                    d.problem(field, "'" + v + "' does not match the pattern " + regex);
                }
            }
            walk(d, v, in, field);
        }
        checkOneOf(d, classAnnotations, given, at);
        checkForbiddenConfig(d, type, input, at);
    }

    /**
     * Options that the operator sets itself and drops from {@code config} with a warning: a spec
     * class names them in FORBIDDEN_PREFIXES (prefixes) and FORBIDDEN_PREFIX_EXCEPTIONS (exact
     * keys still allowed), as the operator matches them.
     */
    private static void checkForbiddenConfig(Doc d, Class<?> type, JsonNode input, String at) {
        JsonNode config = input.get("config");
        String prefixes = constant(type, "FORBIDDEN_PREFIXES");
        if (config == null || !config.isObject() || prefixes == null) {
            return;
        }
        String exceptions = constant(type, "FORBIDDEN_PREFIX_EXCEPTIONS");
        Set<String> allowed = new TreeSet<>();
        if (exceptions != null) {
            for (String e : exceptions.split(",")) {
                allowed.add(e.trim());
            }
        }
        for (Iterator<String> keys = config.fieldNames(); keys.hasNext();) {
            String key = keys.next();
            if (allowed.contains(key)) {
                continue;
            }
            for (String prefix : prefixes.split(",")) {
                if (key.toLowerCase(java.util.Locale.ROOT).startsWith(prefix.trim())) {
                    d.problem(join(join(at, "config"), key), "the operator manages this option and "
                            + "ignores it here (forbidden prefix '" + prefix.trim() + "')");
                    break;
                }
            }
        }
    }

    private static String constant(Class<?> type, String name) {
        try {
            Field field = type.getField(name);
            return java.lang.reflect.Modifier.isStatic(field.getModifiers()) ? (String) field.get(null) : null;
        } catch (NoSuchFieldException | IllegalAccessException | ClassCastException e) {
            return null;
        }
    }

    @SuppressWarnings("unchecked")
    private void checkOneOf(Doc d, Annotations anns, Set<String> given, String at) {
        Map<String, Object> oneOf = anns.clazz.get(ONE_OF);
        if (oneOf == null) {
            return;
        }
        List<String> alternatives = new ArrayList<>();
        int matching = 0;
        for (Object alt : (List<Object>) oneOf.getOrDefault("value", List.of())) {
            List<String> names = new ArrayList<>();
            boolean matches = true;
            for (Object p : (List<Object>) ((Map<String, Object>) alt).getOrDefault("value", List.of())) {
                Map<String, Object> prop = (Map<String, Object>) p;
                String name = (String) prop.get("value");
                names.add(name);
                // Property.required defaults to true in Strimzi's crd-generator.
                if (!Boolean.FALSE.equals(prop.get("required")) && !given.contains(name)) {
                    matches = false;
                }
            }
            alternatives.add(String.join("+", names));
            matching += matches ? 1 : 0;
        }
        if (matching != 1) {
            d.problem(at, "exactly one of " + String.join(" | ", alternatives) + " must be given, "
                    + (matching == 0 ? "none is" : matching + " are"));
        }
    }

    private String notAccepted(JavaType type, JsonNode in) {
        Class<?> raw = type == null ? null : type.getRawClass();
        if (raw != null && raw.isEnum()) {
            List<String> allowed = new ArrayList<>();
            for (Object constant : raw.getEnumConstants()) {
                allowed.add(model.valueToTree(constant).asText());
            }
            return "'" + in.asText() + "' is not one of the model's values: " + String.join(", ", allowed);
        }
        return "the model did not keep this value";
    }

    private static boolean deprecated(BeanPropertyDefinition prop) {
        for (AnnotatedMember m : members(prop)) {
            if (m.hasAnnotation(Deprecated.class)) {
                return true;
            }
        }
        return false;
    }

    private static List<AnnotatedMember> members(BeanPropertyDefinition prop) {
        List<AnnotatedMember> out = new ArrayList<>();
        if (prop.getGetter() != null) {
            out.add(prop.getGetter());
        }
        if (prop.getSetter() != null) {
            out.add(prop.getSetter());
        }
        if (prop.getField() != null) {
            out.add(prop.getField());
        }
        return out;
    }

    /** The crd-generator annotations on a property's getter, setter and field, in the class and its supers. */
    private static Map<String, Map<String, Object>> propertyAnnotations(Class<?> type, BeanPropertyDefinition prop) {
        Map<String, Map<String, Object>> out = new HashMap<>();
        for (AnnotatedMember member : members(prop)) {
            for (Class<?> c = type; c != null && c != Object.class; c = c.getSuperclass()) {
                Annotations anns = Annotations.of(c);
                if (member.getMember() instanceof Method) {
                    Method m = (Method) member.getMember();
                    out.putAll(anns.methods.getOrDefault(m.getName() + org.objectweb.asm.Type.getMethodDescriptor(m), Map.of()));
                } else if (member.getMember() instanceof Field) {
                    out.putAll(anns.fields.getOrDefault(((Field) member.getMember()).getName(), Map.of()));
                }
                for (Class<?> i : c.getInterfaces()) {
                    if (member.getMember() instanceof Method) {
                        Method m = (Method) member.getMember();
                        out.putAll(Annotations.of(i).methods.getOrDefault(
                                m.getName() + org.objectweb.asm.Type.getMethodDescriptor(m), Map.of()));
                    }
                }
            }
        }
        return out;
    }

    private static Object valueOf(Map<String, Map<String, Object>> anns, String desc) {
        Map<String, Object> ann = anns.get(desc);
        return ann == null ? null : ann.get("value");
    }

    private static String join(String at, String name) {
        return at.isEmpty() ? name : at + "." + name;
    }

    // ------------------------------------------------------------------ nothing silently dropped

    /** Paths of the input whose values the model's own output does not hold. */
    private static List<String> kept(JsonNode in, JsonNode out, String at) {
        List<String> lost = new ArrayList<>();
        if (in == null || in.isNull()) {
            return lost;
        }
        if (out == null || out.isNull() || out.isMissingNode()) {
            lost.add(at);
            return lost;
        }
        if (in.isObject()) {
            if (!out.isObject()) {
                lost.add(at);
                return lost;
            }
            for (Iterator<Map.Entry<String, JsonNode>> it = in.fields(); it.hasNext();) {
                Map.Entry<String, JsonNode> e = it.next();
                lost.addAll(kept(e.getValue(), out.get(e.getKey()), join(at, e.getKey())));
            }
        } else if (in.isArray()) {
            if (!out.isArray() || out.size() != in.size()) {
                lost.add(at);
                return lost;
            }
            for (int i = 0; i < in.size(); i++) {
                lost.addAll(kept(in.get(i), out.get(i), at + "[" + i + "]"));
            }
        } else if (in.isNumber() && out.isNumber()) {
            if (in.decimalValue().compareTo(out.decimalValue()) != 0) {
                lost.add(at);
            }
        } else if (!in.equals(out)) {
            lost.add(at);
        }
        return lost;
    }

    // ------------------------------------------------------------------ annotations from class files

    /** The runtime-visible annotations of one class file, read with ASM, as plain maps. */
    static final class Annotations {
        private static final Map<Class<?>, Annotations> CACHE = new HashMap<>();
        final Map<String, Map<String, Object>> clazz = new HashMap<>();
        final Map<String, Map<String, Map<String, Object>>> methods = new HashMap<>();
        final Map<String, Map<String, Map<String, Object>>> fields = new HashMap<>();

        Object classValue(String desc) {
            Map<String, Object> ann = clazz.get(desc);
            return ann == null ? null : ann.get("value");
        }

        static synchronized Annotations of(Class<?> type) {
            return CACHE.computeIfAbsent(type, Annotations::read);
        }

        private static Annotations read(Class<?> type) {
            Annotations out = new Annotations();
            String resource = type.getName().replace('.', '/') + ".class";
            ClassLoader loader = type.getClassLoader() != null ? type.getClassLoader() : ClassLoader.getSystemClassLoader();
            try (InputStream in = loader.getResourceAsStream(resource)) {
                if (in == null) {
                    return out;
                }
                new ClassReader(in).accept(new ClassVisitor(Opcodes.ASM9) {
                    @Override
                    public AnnotationVisitor visitAnnotation(String desc, boolean visible) {
                        return collect(out.clazz, desc);
                    }

                    @Override
                    public MethodVisitor visitMethod(int access, String name, String desc, String sig, String[] ex) {
                        Map<String, Map<String, Object>> anns = out.methods.computeIfAbsent(name + desc, k -> new HashMap<>());
                        return new MethodVisitor(Opcodes.ASM9) {
                            @Override
                            public AnnotationVisitor visitAnnotation(String d, boolean visible) {
                                return collect(anns, d);
                            }
                        };
                    }

                    @Override
                    public FieldVisitor visitField(int access, String name, String desc, String sig, Object value) {
                        Map<String, Map<String, Object>> anns = out.fields.computeIfAbsent(name, k -> new HashMap<>());
                        return new FieldVisitor(Opcodes.ASM9) {
                            @Override
                            public AnnotationVisitor visitAnnotation(String d, boolean visible) {
                                return collect(anns, d);
                            }
                        };
                    }
                }, ClassReader.SKIP_CODE | ClassReader.SKIP_DEBUG | ClassReader.SKIP_FRAMES);
            } catch (IOException e) {
                throw new IllegalStateException("cannot read " + resource, e);
            }
            return out;
        }

        private static AnnotationVisitor collect(Map<String, Map<String, Object>> into, String desc) {
            Map<String, Object> values = new LinkedHashMap<>();
            into.put(desc, values);
            return new Values(values::put);
        }

        /** Collects annotation values: constants, enum names, nested annotations (maps), arrays (lists). */
        private static final class Values extends AnnotationVisitor {
            private final java.util.function.BiConsumer<String, Object> sink;

            Values(java.util.function.BiConsumer<String, Object> sink) {
                super(Opcodes.ASM9);
                this.sink = sink;
            }

            @Override
            public void visit(String name, Object value) {
                sink.accept(name, value);
            }

            @Override
            public void visitEnum(String name, String desc, String value) {
                sink.accept(name, value);
            }

            @Override
            public AnnotationVisitor visitAnnotation(String name, String desc) {
                Map<String, Object> nested = new LinkedHashMap<>();
                sink.accept(name, nested);
                return new Values(nested::put);
            }

            @Override
            public AnnotationVisitor visitArray(String name) {
                List<Object> items = new ArrayList<>();
                sink.accept(name, items);
                return new Values((ignored, v) -> items.add(v));
            }
        }
    }

    // ------------------------------------------------------------------ API version ranges

    /** Strimzi's version ranges: "v1beta2", "v1beta2+", "v1alpha1-v1beta2", or a comma list of those. */
    static final class Versions {
        static boolean matches(String range, String version) {
            for (String part : range.split(",")) {
                String p = part.trim();
                if (p.endsWith("+")) {
                    if (compare(version, p.substring(0, p.length() - 1)) >= 0) {
                        return true;
                    }
                } else if (p.contains("-")) {
                    String[] ends = p.split("-", 2);
                    if (compare(version, ends[0]) >= 0 && compare(version, ends[1]) <= 0) {
                        return true;
                    }
                } else if (p.equals(version)) {
                    return true;
                }
            }
            return false;
        }

        /** Kubernetes order: v1alpha1 &lt; v1beta1 &lt; v1beta2 &lt; v1 &lt; v2alpha1. */
        static int compare(String a, String b) {
            int[] x = key(a);
            int[] y = key(b);
            for (int i = 0; i < 3; i++) {
                if (x[i] != y[i]) {
                    return Integer.compare(x[i], y[i]);
                }
            }
            return 0;
        }

        private static int[] key(String v) {
            java.util.regex.Matcher m = java.util.regex.Pattern.compile("v(\\d+)(?:(alpha|beta)(\\d+))?").matcher(v);
            if (!m.matches()) {
                throw new IllegalArgumentException("not a Kubernetes API version: " + v);
            }
            int stage = m.group(2) == null ? 2 : m.group(2).equals("beta") ? 1 : 0;
            int minor = m.group(3) == null ? 0 : Integer.parseInt(m.group(3));
            return new int[] {Integer.parseInt(m.group(1)), stage, minor};
        }
    }
}
