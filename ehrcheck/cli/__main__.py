from ehrcheck.cli import main

main()
