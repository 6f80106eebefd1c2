package flinkdeploy.testjob;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

/**
 * A small stateful streaming job for deployment tests: generated numbers, keyed by residue,
 * summed in keyed state, discarded. Every operator has a uid so a savepoint taken from one
 * version restores into the next.
 *
 * <p>Arguments: {@code --version v1|v2|v3} ({@code v3} throws when the summing operator opens,
 * i.e. a release that fails on start), {@code --job-name NAME}, {@code --rate N} records per
 * second, {@code --checkpoint-interval MS}, {@code --open-delay-ms MS} (the summing operator
 * takes this long to open: a job that is slow to come up).
 */
public final class StatefulSum {
    private StatefulSum() {}

    public static void main(String[] args) throws Exception {
        String version = arg(args, "--version", "v1");
        String jobName = arg(args, "--job-name", "flink-deploy-test-job");
        long rate = Long.parseLong(arg(args, "--rate", "50"));
        long interval = Long.parseLong(arg(args, "--checkpoint-interval", "2000"));
        long openDelay = Long.parseLong(arg(args, "--open-delay-ms", "0"));
        if (!version.matches("v[123]")) {
            throw new IllegalArgumentException("--version must be v1, v2 or v3, not " + version);
        }

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(interval);

        DataGeneratorSource<Long> numbers =
                new DataGeneratorSource<>(
                        i -> i, Long.MAX_VALUE, RateLimiterStrategy.perSecond(rate), Types.LONG);
        env.fromSource(numbers, WatermarkStrategy.noWatermarks(), "numbers")
                .uid("numbers")
                .keyBy(n -> n % 8)
                .process(new Sum(version, openDelay))
                .uid("sum")
                .name("sum " + version)
                .sinkTo(new DiscardingSink<>())
                .uid("discard");
        env.execute(jobName);
    }

    private static String arg(String[] args, String name, String fallback) {
        for (int i = 0; i + 1 < args.length; i++) {
            if (args[i].equals(name)) {
                return args[i + 1];
            }
        }
        return fallback;
    }

    /** Running sum per key; v2 emits the sum times two, to behave visibly differently. */
    static final class Sum extends KeyedProcessFunction<Long, Long, Long> {
        private final String version;
        private final long openDelay;
        private transient ValueState<Long> sum;

        Sum(String version, long openDelay) {
            this.version = version;
            this.openDelay = openDelay;
        }

        @Override
        public void open(OpenContext ctx) throws InterruptedException {
            Thread.sleep(openDelay);
            if (version.equals("v3")) {
                throw new IllegalStateException(
                        "test job v3 fails on start: the summing operator refuses to open");
            }
            // Same name and type in every version: the state of v1 is the state of v2.
            sum = getRuntimeContext().getState(new ValueStateDescriptor<>("sum", Types.LONG));
        }

        @Override
        public void processElement(Long n, Context ctx, Collector<Long> out) throws Exception {
            Long s = sum.value();
            long next = (s == null ? 0 : s) + n;
            sum.update(next);
            out.collect(version.equals("v2") ? next * 2 : next);
        }
    }
}
