from platforge.cli import main

main()
