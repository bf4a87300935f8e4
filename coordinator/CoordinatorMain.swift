// koinon-coordinator: the operator's binary. Argument parsing only; the work
// is done by the Tokenizer and Dataset modules.
KoinonCoordinator.main()
