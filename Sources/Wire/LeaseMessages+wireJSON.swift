// The lease cycle's answers written without JSONEncoder (WireJSONWriter.swift
// says why). Members in WireProtocol.encoder's sorted-key order; the
// WireJSONWriterTests compare each with JSONEncoder's bytes.

extension LeaseResponse: WireJSONWritable {
    public func write(to writer: inout WireJSONWriter) {
        writer.object { w in
            switch self {
            case .assigned(let assignment):
                w.member("assignment", assignment)
                w.member("status", "assigned")
            case .retry(let retry):
                w.member("retry", retry)
                w.member("status", "retry")
            }
        }
    }
}

extension SubmitResultResponse: WireJSONWritable {
    public func write(to writer: inout WireJSONWriter) {
        writer.object { w in
            w.member("message", message)
            w.member("next", next)
            w.member("reason", reason?.rawValue)
            w.member("status", status.rawValue)
            w.member("verification", verification?.rawValue)
        }
    }
}

extension Assignment: WireJSONWritable {
    public func write(to writer: inout WireJSONWriter) {
        writer.object { w in
            w.member("data", data)
            w.member("deadline", timestamp: deadline)
            w.member("evaluation", evaluation)
            w.member("heartbeat_interval_seconds", heartbeatIntervalSeconds)
            w.member("lease_id", leaseID)
            w.member("local_steps", localSteps)
            w.member("model_config_sha256", modelConfigSHA256)
            w.member("parameters", parameters)
            w.member("result_dtype", resultDType.name)
            w.member("run_id", runID)
            w.member("step", step)
            w.member("unit_index", unitIndex)
        }
    }
}

extension UnitDataSpec: WireJSONWritable {
    public func write(to writer: inout WireJSONWriter) {
        writer.object { w in
            w.member("dataset_id", datasetID)
            w.member("manifest_sha256", manifestSHA256)
            w.member("seed", seed)
            w.member("sequence_length", sequenceLength)
            w.member("sequences", sequences)
        }
    }
}

extension ParameterVersion: WireJSONWritable {
    public func write(to writer: inout WireJSONWriter) {
        writer.object { w in
            w.member("sha256", sha256)
            w.member("version", version)
        }
    }
}

extension EvaluationSpec: WireJSONWritable {
    public func write(to writer: inout WireJSONWriter) {
        writer.object { w in
            w.member("index", index)
            w.member("sequences", sequences)
        }
    }
}

extension LocalStepsSpec: WireJSONWritable {
    public func write(to writer: inout WireJSONWriter) {
        writer.object { w in
            w.member("beta1", beta1)
            w.member("beta2", beta2)
            w.member("decay_steps", decaySteps)
            w.member("epsilon", epsilon)
            w.member("first_inner_step", firstInnerStep)
            w.member("grad_clip", gradClip)
            w.member("learning_rate", learningRate)
            w.member("min_learning_rate", minLearningRate)
            w.member("steps", steps)
            w.member("warmup_steps", warmupSteps)
            w.member("weight_decay", weightDecay)
        }
    }
}

extension RetryLater: WireJSONWritable {
    public func write(to writer: inout WireJSONWriter) {
        writer.object { w in
            w.member("message", message)
            w.member("reason", reason.rawValue)
            w.member("retry_after_seconds", retryAfterSeconds)
        }
    }
}
