// swift-tools-version: 6.0
import PackageDescription

let package = Package(
    name: "Koinon",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "koinon-worker", targets: ["koinon-worker"]),
        .executable(name: "koinon-coordinator", targets: ["koinon-coordinator"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", "3.0.0"..<"5.0.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.21.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.20.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.60.0"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.5.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.27.0"),
        .package(url: "https://github.com/apple/swift-certificates", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-asn1", from: "1.0.0"),
    ],
    targets: [
        // OpenBLAS from Debian (libopenblas-dev): matrix products.
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS"),
        // Hand-written element-wise kernels with AVX-512 / AVX2 variants picked at run time.
        .target(
            name: "CKernels",
            path: "Sources/CKernels",
            cSettings: [
                // Always optimised (even in debug builds); reassociation lets the
                // compiler vectorise reductions. No -ffast-math: NaN/Inf must survive.
                .unsafeFlags([
                    "-O3", "-fno-math-errno", "-fno-trapping-math", "-fno-signed-zeros",
                    "-fassociative-math", "-ffp-contract=fast",
                ]),
            ]
        ),
        .target(name: "Kernels", dependencies: ["CBLAS", "CKernels"]),
        .target(name: "NeoModel", dependencies: ["Kernels"]),
        .target(
            name: "WorkerKit",
            dependencies: [
                "NeoModel", "Kernels", "KoinonCore", "Dataset", "Tokenizer", "Wire",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                // TLS towards the coordinator: trust roots, certificate pinning.
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // zstd from Debian (libzstd-dev): .jsonl.zst inputs.
        .systemLibrary(name: "CZstd", path: "Sources/CZstd"),
        .target(name: "Tokenizer", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(
            name: "Dataset",
            dependencies: ["Tokenizer", "CZstd", .product(name: "Crypto", package: "swift-crypto")]
        ),
        // Pure training-run logic: run config, unit data, unit/lease state machines, aggregation.
        .target(name: "KoinonCore", dependencies: ["NeoModel", .product(name: "Yams", package: "Yams")]),
        // API types and binary tensor payloads shared by coordinator and worker.
        .target(name: "Wire", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        // The coordinator daemon: HTTP app, PostgreSQL repositories, embedded
        // PostgreSQL, migrations, blob store, aggregator.
        .target(
            name: "CoordinatorApp",
            dependencies: [
                "KoinonCore", "Wire", "Dataset", "NeoModel", "Kernels", "Tokenizer",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                // HTTPS by default: the self-signed certificate, NIOSSL through Hummingbird.
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ]
        ),
        .executableTarget(
            name: "koinon-coordinator",
            dependencies: [
                "Tokenizer", "Dataset", "CoordinatorApp", "KoinonCore", "NeoModel", "Kernels", "Wire",
                // The operator commands reach the coordinator with the worker's TLS client set-up.
                "WorkerKit",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "coordinator"
        ),
        .executableTarget(
            name: "koinon-worker",
            dependencies: [
                "WorkerKit", "NeoModel", "Kernels", "Tokenizer", "Dataset", "KoinonCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "worker"
        ),
        // Load benchmark: simulated workers doing lease → submit cycles (benchmarks/load.sh).
        .executableTarget(
            name: "koinon-loadtest",
            dependencies: [
                "Wire", "NeoModel",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOFoundationCompat", package: "swift-nio"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            path: "benchmarks/LoadTest"
        ),
        .testTarget(name: "KernelsTests", dependencies: ["Kernels", "CKernels"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer"], exclude: ["Fixtures"]),
        .testTarget(name: "DatasetTests", dependencies: ["Dataset", "Tokenizer"]),
        .testTarget(name: "KoinonCoreTests", dependencies: ["KoinonCore", "NeoModel"]),
        .testTarget(name: "WireTests", dependencies: ["Wire"]),
        .testTarget(name: "WorkerKitTests", dependencies: ["WorkerKit"]),
        .testTarget(
            name: "CoordinatorAppTests",
            dependencies: [
                "CoordinatorApp", "KoinonCore", "Wire", "WorkerKit", "Dataset", "Kernels",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
            ]
        ),
        .testTarget(
            name: "NeoModelTests",
            dependencies: ["NeoModel", "Kernels", "WorkerKit"],
            // Reference fixtures from scripts/make_fixtures.py, read in place.
            exclude: ["Fixtures"]
        ),
    ]
)
