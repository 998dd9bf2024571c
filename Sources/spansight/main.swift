SpanSightCommand.main()
