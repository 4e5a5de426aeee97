from forge_cli.app import main

main()
