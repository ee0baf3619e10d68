-- EMS config.lua, abridged
configuration=
{
	daemon=false,
	pathSeparator="/",
	logAppenders={ { name="console appender", type="coloredConsole", level=6 }, },
	applications=
	{
		rootDirectory="applications",
		{
			description="EVOSTREAM MEDIA SERVER",
			name="evostreamms",
			protocol="dynamiclinklibrary",
			default=true,
			acceptors=
			{
				{ ip="0.0.0.0", port=1935, protocol="inboundRtmp" },
				{ ip="127.0.0.1", port=1112, protocol="inboundJsonCli", useLengthPadding=true },
				{ ip="0.0.0.0", port=9999, protocol="inboundTcpTs" },
			},
			autoMSS={ enabled=true, targetFolder="..\\evo-webroot", chunkLength=2, playlistLength=10, fileLength=1024*1024 },
			mediaFolder="../media",
		},
	},
}
