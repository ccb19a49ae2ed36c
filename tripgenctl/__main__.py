from tripgenctl.cli.app import main

main()
