from keyrotor.cli import main

main()
