from shoplake.cli import main

main()
