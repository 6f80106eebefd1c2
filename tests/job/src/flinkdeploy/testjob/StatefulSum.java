package flinkdeploy.testjob;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.api.connector.source.util.ratelimit.RateLimiterStrategy;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.connector.datagen.source.DataGeneratorSource;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.apache.flink.util.Collector;

import java.time.Duration;

/**
 * A small stateful streaming job for deployment tests: generated numbers, keyed by residue,
 * summed in keyed state, discarded. Every operator has a uid so a savepoint taken from one
 * version restores into the next.
 *
 * <p>Arguments: {@code --version v1|v2|v3} ({@code v3} throws when the summing operator opens,
 * i.e. a release that fails on start), {@code --job-name NAME}, {@code --rate N} records per
 * second, {@code --checkpoint-interval MS}, {@code --open-delay-ms MS} (the summing operator
 * takes this long to open: a job that is slow to come up).
 *
 * <p>For the health gate: {@code --fail-once-after-ms MS} (the summing operator throws once, this
 * long after its first start; Flink restarts the job, which then runs on), {@code
 * --restart-attempts N} (a fixed-delay restart strategy of N attempts, 500 ms apart, instead of
 * the cluster's), {@code --snapshot-delay-ms MS} with {@code --checkpoint-timeout MS} (each
 * snapshot takes longer than a checkpoint may: no checkpoint ever completes, and the failures
 * are tolerated, so the job keeps running without one).
 */
public final class StatefulSum {
    private StatefulSum() {}

    public static void main(String[] args) throws Exception {
        String version = arg(args, "--version", "v1");
        String jobName = arg(args, "--job-name", "flink-deploy-test-job");
        long rate = Long.parseLong(arg(args, "--rate", "50"));
        long interval = Long.parseLong(arg(args, "--checkpoint-interval", "2000"));
        long openDelay = Long.parseLong(arg(args, "--open-delay-ms", "0"));
        long failOnceAfter = Long.parseLong(arg(args, "--fail-once-after-ms", "-1"));
        long snapshotDelay = Long.parseLong(arg(args, "--snapshot-delay-ms", "0"));
        String restartAttempts = arg(args, "--restart-attempts", "");
        String checkpointTimeout = arg(args, "--checkpoint-timeout", "");
        if (!version.matches("v[123]")) {
            throw new IllegalArgumentException("--version must be v1, v2 or v3, not " + version);
        }

        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(interval);
        Configuration conf = new Configuration();
        if (!restartAttempts.isEmpty()) {
            conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
            conf.set(
                    RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS,
                    Integer.parseInt(restartAttempts));
            conf.set(
                    RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY,
                    Duration.ofMillis(500));
        }
        if (!checkpointTimeout.isEmpty()) {
            conf.set(
                    CheckpointingOptions.CHECKPOINTING_TIMEOUT,
                    Duration.ofMillis(Long.parseLong(checkpointTimeout)));
            conf.set(CheckpointingOptions.TOLERABLE_FAILURE_NUMBER, Integer.MAX_VALUE);
        }
        env.configure(conf);

        DataGeneratorSource<Long> numbers =
                new DataGeneratorSource<>(
                        i -> i, Long.MAX_VALUE, RateLimiterStrategy.perSecond(rate), Types.LONG);
        env.fromSource(numbers, WatermarkStrategy.noWatermarks(), "numbers")
                .uid("numbers")
                .keyBy(n -> n % 8)
                .process(new Sum(version, openDelay, failOnceAfter, snapshotDelay))
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
    static final class Sum extends KeyedProcessFunction<Long, Long, Long>
            implements CheckpointedFunction {
        private final String version;
        private final long openDelay;
        private final long failOnceAfter;
        private final long snapshotDelay;
        private transient ValueState<Long> sum;
        private transient long openedAt;

        Sum(String version, long openDelay, long failOnceAfter, long snapshotDelay) {
            this.version = version;
            this.openDelay = openDelay;
            this.failOnceAfter = failOnceAfter;
            this.snapshotDelay = snapshotDelay;
        }

        @Override
        public void initializeState(FunctionInitializationContext ctx) {}

        @Override
        public void snapshotState(FunctionSnapshotContext ctx) throws InterruptedException {
            Thread.sleep(snapshotDelay);
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
            openedAt = System.currentTimeMillis();
        }

        @Override
        public void processElement(Long n, Context ctx, Collector<Long> out) throws Exception {
            if (failOnceAfter >= 0
                    && getRuntimeContext().getTaskInfo().getAttemptNumber() == 0
                    && System.currentTimeMillis() - openedAt >= failOnceAfter) {
                throw new IllegalStateException(
                        "test job fails once " + failOnceAfter + " ms after it started");
            }
            Long s = sum.value();
            long next = (s == null ? 0 : s) + n;
            sum.update(next);
            out.collect(version.equals("v2") ? next * 2 : next);
        }
    }
}
