SpanSightCommand.main()
WriteFailures.checkStandardOutput()
