from hivekeeper.cli.app import main

main()
