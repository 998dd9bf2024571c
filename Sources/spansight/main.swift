import ArgumentParser

// Parsed and run here rather than by `main()`, so that standard output is checked also when
// a command ends with a non-zero status (a partial input) or an error.
do {
    let arguments: [String]
    do { arguments = try ConfigFile.expand(Array(CommandLine.arguments.dropFirst())) } catch {
        Stderr.line("spansight: error: \(error.description)")
        SpanSightCommand.exit(withError: ExitCode(1))
    }
    var command = try SpanSightCommand.parseAsRoot(arguments)
    try command.run()
} catch {
    if !(error is CleanExit) { WriteFailures.checkStandardOutput() }
    if SpanSightCommand.exitCode(for: error) == .validationFailure {
        UsageError.report(SpanSightCommand.fullMessage(for: error))
    }
    SpanSightCommand.exit(withError: error)
}
WriteFailures.checkStandardOutput()
